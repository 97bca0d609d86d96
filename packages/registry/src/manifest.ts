// OCI / Docker manifest media types, descriptor and manifest shapes, and their validation.
import { digestProblem } from './digest';
import { InvalidManifestError, UnsupportedMediaTypeError } from './errors';
import type { Platform } from './platform';

export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  DockerSchema1Manifest: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1SignedManifest: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The `Accept` header for manifest requests: the four schema-2 / OCI manifest and index types. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ParsedManifest = { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest };

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** Media types crisp can resolve a reference to. */
export function isManifestMediaType(mediaType: string): boolean {
  return isIndexMediaType(mediaType) || isImageManifestMediaType(mediaType);
}

/** `application/json; charset=utf-8` → `application/json`. */
export function baseMediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The media type of a manifest body: the Content-Type when it names a manifest type, else the
 * body's own `mediaType`, else guessed from its shape (`manifests` → index, `config`+`layers` →
 * manifest), as containerd does for registries that answer `application/json`.
 */
export function detectManifestMediaType(contentType: string | undefined, body: Buffer): string {
  const fromHeader = baseMediaType(contentType);
  if (isManifestMediaType(fromHeader)) return fromHeader;
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return fromHeader;
  }
  if (!isObject(json)) return fromHeader;
  if (typeof json.mediaType === 'string' && json.mediaType !== '') return json.mediaType;
  if (json.schemaVersion === 1) return MediaType.DockerSchema1Manifest;
  if (Array.isArray(json.manifests)) return MediaType.OciIndex;
  if (isObject(json.config) && Array.isArray(json.layers)) return MediaType.OciManifest;
  return fromHeader;
}

function checkDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw new InvalidManifestError(`${where}: not a descriptor object`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string') throw new InvalidManifestError(`${where}: mediaType must be a string`);
  if (typeof digest !== 'string') throw new InvalidManifestError(`${where}: digest must be a string`);
  const problem = digestProblem(digest);
  if (problem !== undefined) throw new InvalidManifestError(`${where}: ${problem}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidManifestError(`${where}: size must be a non-negative integer`);
  }
  if (value.platform !== undefined) {
    const p = value.platform;
    if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
      throw new InvalidManifestError(`${where}: platform must have string os and architecture`);
    }
  }
  return value as unknown as Descriptor;
}

/**
 * Parses and validates a manifest or index of the given media type. The body's own `mediaType`,
 * when present, must agree in kind with the type it was fetched as (no index/manifest confusion).
 */
export function parseManifest(body: Buffer, mediaType: string): ParsedManifest {
  if (mediaType === MediaType.DockerSchema1Manifest || mediaType === MediaType.DockerSchema1SignedManifest) {
    throw new UnsupportedMediaTypeError(mediaType, 'manifest (Docker schema 1 is not supported)');
  }
  if (!isManifestMediaType(mediaType)) throw new UnsupportedMediaTypeError(mediaType);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new InvalidManifestError(`${mediaType} is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(json)) throw new InvalidManifestError(`${mediaType} is not a JSON object`);
  if (json.schemaVersion !== 2) {
    throw new InvalidManifestError(`${mediaType}: unsupported schemaVersion ${JSON.stringify(json.schemaVersion)}`);
  }
  if (json.mediaType !== undefined) {
    if (typeof json.mediaType !== 'string') throw new InvalidManifestError(`${mediaType}: mediaType must be a string`);
    if (isManifestMediaType(json.mediaType) && isIndexMediaType(json.mediaType) !== isIndexMediaType(mediaType)) {
      throw new InvalidManifestError(`fetched as ${mediaType} but the document says it is ${json.mediaType}`);
    }
  }
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw new InvalidManifestError(`${mediaType}: "manifests" must be an array`);
    json.manifests.forEach((d, i) => checkDescriptor(d, `${mediaType} manifests[${i}]`));
    return { kind: 'index', index: json as unknown as ImageIndex };
  }
  checkDescriptor(json.config, `${mediaType} config`);
  if (!Array.isArray(json.layers)) throw new InvalidManifestError(`${mediaType}: "layers" must be an array`);
  json.layers.forEach((d, i) => checkDescriptor(d, `${mediaType} layers[${i}]`));
  return { kind: 'manifest', manifest: json as unknown as ImageManifest };
}
