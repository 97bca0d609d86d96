// Building OCI images from files: a content-addressed blob cache, gzip layers with fixed
// headers, image configs, manifests and indexes. Same input, same digests.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { buildTar, TarEntry } from './tar';

export const MediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** Bump when the way fixtures are built changes, so old cache records are ignored. */
export const FIXTURE_FORMAT = 1;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** A blob in the fixture cache. */
export interface BlobRef {
  mediaType: string;
  digest: string;
  size: number;
  /** The file holding its bytes. */
  path: string;
}

export interface ImageConfigBody {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Volumes?: Record<string, Record<string, never>>;
}

export interface ImageConfig {
  created: string;
  architecture: string;
  os: string;
  variant?: string;
  config: ImageConfigBody;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: { created: string; created_by: string; empty_layer?: boolean }[];
}

/** A built fixture: an image manifest or (multiarch) an index with its child images. */
export interface FixtureImage {
  name: string;
  mediaType: string;
  /** Parsed manifest or index. */
  manifest: Record<string, unknown>;
  /** The exact bytes the digest is over. */
  manifestBytes: Buffer;
  /** Digest of the manifest (or index): what `repo@<digest>` names. */
  digest: string;
  /** Image config (undefined for an index). */
  config?: ImageConfig;
  /** Config blob; its digest is the image id (undefined for an index). */
  configBlob?: BlobRef;
  /** Compressed layers, bottom first ([] for an index). */
  layers: BlobRef[];
  /** Uncompressed layer digests (= config.rootfs.diff_ids). */
  diffIds: string[];
  /** Index only: the platform manifests, in index order. */
  children?: FixtureImage[];
  /** Index only: the platforms of `children`. */
  platforms?: Platform[];
}

export interface Layer {
  blob: BlobRef;
  diffId: string;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The fixture cache: $CRISP_FIXTURE_CACHE or /tmp/crisp-fixtures. */
export function cacheDir(): string {
  return process.env.CRISP_FIXTURE_CACHE || '/tmp/crisp-fixtures';
}

/** Writes atomically (temp file + rename), so concurrent test processes never see half a file. */
export function writeFileAtomic(file: string, data: Buffer | string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

export function blobPath(digest: string, root = cacheDir()): string {
  const [alg, hex] = digest.split(':');
  return path.join(root, 'blobs', alg, hex);
}

/** Stores bytes in the cache (if not there yet) and returns their descriptor. */
export function putBlob(data: Buffer, mediaType: string): BlobRef {
  const digest = `sha256:${sha256(data)}`;
  const file = blobPath(digest);
  let ok = false;
  try {
    ok = fs.statSync(file).size === data.length;
  } catch {
    ok = false;
  }
  if (!ok) writeFileAtomic(file, data);
  return { mediaType, digest, size: data.length, path: file };
}

/** gzip with a fixed header (no name, mtime 0): deterministic for a given zlib. */
export function gzip(data: Buffer, level = 6): Buffer {
  return zlib.gzipSync(data, { level });
}

export function layerFromTar(tar: Buffer, opts: { level?: number } = {}): Layer {
  const diffId = `sha256:${sha256(tar)}`;
  const blob = putBlob(gzip(tar, opts.level), MediaTypes.layerGzip);
  return { blob, diffId };
}

export function layerFromEntries(entries: TarEntry[], opts: { level?: number } = {}): Layer {
  return layerFromTar(buildTar(entries), opts);
}

/** Go-style platform of this machine (amd64, arm64, ...). */
export function hostPlatform(): Platform {
  const map: Record<string, Platform> = {
    x64: { architecture: 'amd64', os: 'linux' },
    arm64: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    arm: { architecture: 'arm', os: 'linux', variant: 'v7' },
    ia32: { architecture: '386', os: 'linux' },
    ppc64: { architecture: 'ppc64le', os: 'linux' },
    s390x: { architecture: 's390x', os: 'linux' },
    riscv64: { architecture: 'riscv64', os: 'linux' },
  };
  return map[process.arch] ?? { architecture: process.arch, os: 'linux' };
}

const CREATED = '2000-01-01T00:00:00Z';

/** Assembles config + manifest for `layers` and stores both in the cache. */
export function makeImage(opts: { name: string; layers: Layer[]; config: ImageConfigBody; platform?: Platform; annotations?: Record<string, string> }): FixtureImage {
  const platform = opts.platform ?? hostPlatform();
  const config: ImageConfig = {
    created: CREATED,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: opts.config,
    rootfs: { type: 'layers', diff_ids: opts.layers.map((l) => l.diffId) },
    history: opts.layers.map((_l, i) => ({ created: CREATED, created_by: `crisp e2e fixture ${opts.name} layer ${i}` })),
  };
  const configBlob = putBlob(Buffer.from(JSON.stringify(config)), MediaTypes.config);
  const desc = (b: BlobRef): Descriptor => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaTypes.manifest,
    config: desc(configBlob),
    layers: opts.layers.map((l) => desc(l.blob)),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const stored = putBlob(manifestBytes, MediaTypes.manifest);
  return {
    name: opts.name,
    mediaType: MediaTypes.manifest,
    manifest,
    manifestBytes,
    digest: stored.digest,
    config,
    configBlob,
    layers: opts.layers.map((l) => l.blob),
    diffIds: opts.layers.map((l) => l.diffId),
  };
}

/** An OCI image index over `children` (each with its platform). */
export function makeIndex(name: string, children: { image: FixtureImage; platform: Platform }[]): FixtureImage {
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MediaTypes.index,
    manifests: children.map(({ image, platform }) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.manifestBytes.length,
      platform,
    })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const stored = putBlob(manifestBytes, MediaTypes.index);
  return {
    name,
    mediaType: MediaTypes.index,
    manifest,
    manifestBytes,
    digest: stored.digest,
    layers: [],
    diffIds: [],
    children: children.map((c) => c.image),
    platforms: children.map((c) => c.platform),
  };
}

// --- cache records: a built image remembered by a key over its inputs ---

interface ImageRecord {
  format: number;
  key: string;
  name: string;
  mediaType: string;
  digest: string;
  config?: ImageConfig;
  configBlob?: Omit<BlobRef, 'path'>;
  layers: Omit<BlobRef, 'path'>[];
  diffIds: string[];
  children?: ImageRecord[];
  platforms?: Platform[];
}

function toRecord(img: FixtureImage, key: string): ImageRecord {
  const strip = (b: BlobRef): Omit<BlobRef, 'path'> => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
  return {
    format: FIXTURE_FORMAT,
    key,
    name: img.name,
    mediaType: img.mediaType,
    digest: img.digest,
    config: img.config,
    configBlob: img.configBlob && strip(img.configBlob),
    layers: img.layers.map(strip),
    diffIds: img.diffIds,
    children: img.children?.map((c) => toRecord(c, key)),
    platforms: img.platforms,
  };
}

function fromRecord(r: ImageRecord): FixtureImage | undefined {
  const withPath = (b: Omit<BlobRef, 'path'>): BlobRef | undefined => {
    const p = blobPath(b.digest);
    try {
      return fs.statSync(p).size === b.size ? { ...b, path: p } : undefined;
    } catch {
      return undefined;
    }
  };
  const manifestFile = blobPath(r.digest);
  if (!fs.existsSync(manifestFile)) return undefined;
  const manifestBytes = fs.readFileSync(manifestFile);
  if (`sha256:${sha256(manifestBytes)}` !== r.digest) return undefined;
  const layers = r.layers.map(withPath);
  if (layers.some((l) => !l)) return undefined;
  const configBlob = r.configBlob ? withPath(r.configBlob) : undefined;
  if (r.configBlob && !configBlob) return undefined;
  const children = r.children?.map(fromRecord);
  if (children?.some((c) => !c)) return undefined;
  return {
    name: r.name,
    mediaType: r.mediaType,
    manifest: JSON.parse(manifestBytes.toString('utf8')) as Record<string, unknown>,
    manifestBytes,
    digest: r.digest,
    config: r.config,
    configBlob,
    layers: layers as BlobRef[],
    diffIds: r.diffIds,
    children: children as FixtureImage[] | undefined,
    platforms: r.platforms,
  };
}

/** Returns the cached image for (name, key) if all its blobs are there, else builds and records it. */
export async function cachedImage(name: string, key: string, build: () => FixtureImage | Promise<FixtureImage>): Promise<FixtureImage> {
  const recordFile = path.join(cacheDir(), 'images', `${name}.json`);
  const fullKey = sha256(`${FIXTURE_FORMAT}\0${key}`);
  try {
    const rec = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as ImageRecord;
    if (rec.format === FIXTURE_FORMAT && rec.key === fullKey) {
      const img = fromRecord(rec);
      if (img) return img;
    }
  } catch {
    // no record or unreadable: build
  }
  const img = await build();
  writeFileAtomic(recordFile, JSON.stringify(toRecord(img, fullKey), null, 1));
  return img;
}
