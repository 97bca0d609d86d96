// What an image record's target says about the image on this node: the platform's manifest, the
// config (whose digest is the image ID), the layers, the size, the runtime config and the chain ID.
// Everything here is derived from content-addressed blobs only, so it is cached by target digest
// for good (bounded LRU); nothing mutable (records, labels, snapshots) is cached.
import type { descriptor as descriptorPb } from '@crisp/api';
import { isNotFound, readContentAll } from '@crisp/containerd';
import type { ContainerdClient } from '@crisp/containerd';
import {
  computeDigest,
  currentPlatform,
  DEFAULT_MAX_CONFIG_SIZE,
  DEFAULT_MAX_MANIFEST_SIZE,
  detectManifestMediaType,
  digestAlgorithm,
  isDigest,
  isManifestMediaType,
  MediaType,
  parseManifest,
  selectPlatform,
} from '@crisp/registry';
import type { Platform } from '@crisp/registry';
import { chainId } from './chain-id';
import { LruCache } from './lru';

/** A descriptor with a plain number size (containerd's has a bigint). */
export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
}

/** The parts of the image config (`config` of the OCI image config) the CRI and containers use. */
export interface ImageRuntimeConfig {
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  /** Paths of `Volumes`, sorted. */
  volumes: string[];
  /** `ExposedPorts` keys (`80/tcp`), sorted. */
  exposedPorts: string[];
  stopSignal: string;
  labels: Record<string, string>;
}

export interface ImageMetadata {
  /** `sha256:<config digest>`: the CRI image ID. */
  id: string;
  /** The record's target (an index / manifest list, or the manifest itself). */
  target: Blob;
  /** The image manifest for this node's platform. */
  manifest: Blob;
  config: Blob;
  layers: Blob[];
  /** `rootfs.diff_ids` of the config. */
  diffIds: string[];
  /** Chain ID of the top layer (the snapshot a container's rootfs is prepared from); '' without layers. */
  chainId: string;
  /** Bytes of the target, the manifests on the way to the platform's one, the config and the layers. */
  size: number;
  os: string;
  architecture: string;
  variant?: string;
  /** `created` of the config, when set. */
  created?: string;
  runtime: ImageRuntimeConfig;
  /** From `User`: a numeric user (`1000`, `1000:1000`) is a uid, anything else a user name. */
  uid?: bigint;
  username: string;
}

/** Reads a whole (small) blob by digest; throws when it is bigger than maxBytes. */
export type BlobReader = (digest: string, maxBytes: number) => Promise<Buffer>;

/**
 * The target's content cannot make an image for this node: not a manifest, invalid JSON, no
 * manifest for this platform, too large, an artifact rather than an image. Content is immutable, so
 * this verdict is as permanent as a successful result.
 */
export class ImageContentError extends Error {
  override readonly name = 'ImageContentError';
  constructor(
    readonly digest: string,
    reason: string,
  ) {
    super(`content ${digest}: ${reason}`);
  }
}

/** Indexes nested deeper than this are refused (containerd follows a few levels too). */
const MAX_INDEX_DEPTH = 4;
const IMAGE_CONFIG_TYPES = new Set<string>([MediaType.OciConfig, MediaType.DockerConfig]);

export function blobOf(d: { mediaType: string; digest: string; size: number | bigint }): Blob {
  return { mediaType: d.mediaType, digest: d.digest, size: Number(d.size) };
}

/**
 * uid / user name from a config's `User`, as the peers do: the part before ':' decides; a number
 * is a uid, anything else a user name; empty means neither.
 */
export function parseImageUser(user: string | undefined): { uid?: bigint; username: string } {
  const name = (user ?? '').split(':')[0]!;
  if (name === '') return { username: '' };
  if (/^-?\d+$/.test(name)) {
    const uid = BigInt(name);
    // Go's strconv.ParseInt(…, 10, 64): out of int64 range is not a number, so a user name.
    if (uid >= -(2n ** 63n) && uid < 2n ** 63n) return { uid, username: '' };
  }
  return { username: name };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** The runtime part of an image config JSON (missing or mistyped fields become empty). */
export function parseRuntimeConfig(config: unknown): ImageRuntimeConfig {
  const c = isObject(config) && isObject(config['config']) ? config['config'] : {};
  const str = (k: string): string => (typeof c[k] === 'string' ? (c[k] as string) : '');
  return {
    user: str('User'),
    env: strings(c['Env']),
    entrypoint: strings(c['Entrypoint']),
    cmd: strings(c['Cmd']),
    workingDir: str('WorkingDir'),
    volumes: isObject(c['Volumes']) ? Object.keys(c['Volumes']).sort() : [],
    exposedPorts: isObject(c['ExposedPorts']) ? Object.keys(c['ExposedPorts']).sort() : [],
    stopSignal: str('StopSignal'),
    labels: stringMap(c['Labels']),
  };
}

async function readVerified(read: BlobReader, desc: Blob, maxBytes: number, what: string): Promise<Buffer> {
  if (!isDigest(desc.digest)) throw new ImageContentError(desc.digest, `invalid ${what} digest`);
  let bytes: Buffer;
  try {
    bytes = await read(desc.digest, maxBytes);
  } catch (err) {
    if (err instanceof Error && err.name === 'ContentTooLargeError') throw new ImageContentError(desc.digest, `${what}: ${err.message}`);
    throw err;
  }
  if (computeDigest(bytes, digestAlgorithm(desc.digest)) !== desc.digest) {
    throw new ImageContentError(desc.digest, `${what} does not match its digest`);
  }
  return bytes;
}

/**
 * Follows `target` to the image for `platform`: reads the index(es) and the manifest, then the
 * config. Missing content surfaces as the reader's error (containerd NOT_FOUND); content that is
 * there but unusable as ImageContentError.
 */
export async function loadImageMetadata(read: BlobReader, target: Blob, platform: Platform = currentPlatform()): Promise<ImageMetadata> {
  let desc = target;
  let size = 0;
  for (let depth = 0; ; depth++) {
    if (depth > MAX_INDEX_DEPTH) throw new ImageContentError(target.digest, `indexes nested more than ${MAX_INDEX_DEPTH} deep`);
    const body = await readVerified(read, desc, DEFAULT_MAX_MANIFEST_SIZE, 'manifest');
    size += body.length;
    const mediaType = isManifestMediaType(desc.mediaType) ? desc.mediaType : detectManifestMediaType(desc.mediaType, body);
    let parsed;
    try {
      parsed = parseManifest(body, mediaType);
    } catch (err) {
      throw new ImageContentError(desc.digest, (err as Error).message);
    }
    if (parsed.kind === 'index') {
      try {
        desc = blobOf(selectPlatform(parsed.index, platform, `index ${desc.digest}`));
      } catch (err) {
        throw new ImageContentError(desc.digest, (err as Error).message);
      }
      continue;
    }

    const manifest = parsed.manifest;
    const configDesc = blobOf(manifest.config);
    const configBytes = await readVerified(read, configDesc, DEFAULT_MAX_CONFIG_SIZE, 'image config');
    let config: unknown;
    try {
      config = JSON.parse(configBytes.toString('utf8'));
    } catch (err) {
      throw new ImageContentError(configDesc.digest, `image config is not JSON: ${(err as Error).message}`);
    }
    if (!isObject(config)) throw new ImageContentError(configDesc.digest, 'image config is not a JSON object');
    // Artifacts (Helm charts, signatures…) are manifests too, but not images.
    if (!IMAGE_CONFIG_TYPES.has(configDesc.mediaType) && !isObject(config['rootfs'])) {
      throw new ImageContentError(desc.digest, `not a container image (config media type ${configDesc.mediaType})`);
    }
    const rootfs = isObject(config['rootfs']) ? config['rootfs'] : {};
    const diffIds = strings(rootfs['diff_ids']);
    const layers = manifest.layers.map(blobOf);
    size += configDesc.size + layers.reduce((n, l) => n + l.size, 0);
    const runtime = parseRuntimeConfig(config);
    const meta: ImageMetadata = {
      id: configDesc.digest,
      target,
      manifest: desc,
      config: configDesc,
      layers,
      diffIds,
      chainId: chainId(diffIds) ?? '',
      size,
      os: typeof config['os'] === 'string' ? config['os'] : '',
      architecture: typeof config['architecture'] === 'string' ? config['architecture'] : '',
      runtime,
      ...parseImageUser(runtime.user),
    };
    if (typeof config['variant'] === 'string' && config['variant'] !== '') meta.variant = config['variant'];
    if (typeof config['created'] === 'string') meta.created = config['created'];
    return meta;
  }
}

/** Reads blobs from containerd's content store, each read bounded in time. */
export function containerdBlobReader(client: ContainerdClient, timeoutMs = 30_000): BlobReader {
  return (digest, maxBytes) => readContentAll(client, digest, maxBytes, AbortSignal.timeout(timeoutMs));
}

export const METADATA_CACHE_ENTRIES = 2048;

/**
 * Image metadata by target digest. Content never changes under a digest, so an entry (or an
 * ImageContentError verdict) stays valid; missing content and containerd failures are not cached.
 * Concurrent requests for one target share a single load.
 */
export class ImageMetadataCache {
  private readonly cache: LruCache<string, ImageMetadata | ImageContentError>;
  private readonly inflight = new Map<string, Promise<ImageMetadata>>();

  constructor(
    maxEntries = METADATA_CACHE_ENTRIES,
    private readonly platform: Platform = currentPlatform(),
  ) {
    this.cache = new LruCache(maxEntries);
  }

  get size(): number {
    return this.cache.size;
  }

  async get(target: Blob | descriptorPb.Descriptor, read: BlobReader): Promise<ImageMetadata> {
    const blob = blobOf(target);
    const hit = this.cache.get(blob.digest);
    if (hit instanceof ImageContentError) throw hit;
    if (hit !== undefined) return hit.target.mediaType === blob.mediaType ? hit : { ...hit, target: blob };
    let load = this.inflight.get(blob.digest);
    if (load === undefined) {
      load = loadImageMetadata(read, blob, this.platform)
        .then(
          (meta) => {
            this.cache.set(blob.digest, meta);
            return meta;
          },
          (err: unknown) => {
            if (err instanceof ImageContentError) this.cache.set(blob.digest, err);
            throw err;
          },
        )
        .finally(() => this.inflight.delete(blob.digest));
      this.inflight.set(blob.digest, load);
    }
    return load;
  }
}

const caches = new WeakMap<object, ImageMetadataCache>();

/** The process-wide cache for one containerd client (one per client, so tests stay apart). */
export function metadataCacheFor(client: object): ImageMetadataCache {
  let cache = caches.get(client);
  if (cache === undefined) {
    cache = new ImageMetadataCache();
    caches.set(client, cache);
  }
  return cache;
}

/** True when `err` means the record's content is (partly) gone: GC'd, or a pull still in progress. */
export function isMissingContent(err: unknown): boolean {
  return isNotFound(err);
}
