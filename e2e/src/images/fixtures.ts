// The test images, built offline from this machine's files. Each builder returns a
// FixtureImage (manifest, config, layers, digest); outputs are cached under cacheDir() and are
// byte-for-byte the same for the same inputs.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  blobPath,
  cacheDir,
  cachedImage,
  FixtureImage,
  hostPlatform,
  Layer,
  layerFromEntries,
  layerFromTar,
  makeImage,
  makeIndex,
  MediaTypes,
  Platform,
  sha256,
  writeFileAtomic,
} from './build';
import { buildTar, TarEntry } from './tar';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const BUSYBOX_BINARY = '/bin/busybox';
export const PAUSE_SOURCE = path.resolve(__dirname, '..', '..', 'fixtures', 'pause', 'pause.c');

/** The users and groups of the busybox-based images. */
export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
export const GROUP = ['root:x:0:', 'app:x:1000:app', 'extra:x:2000:app', 'nobody:x:65534:', ''].join('\n');
export const APP_UID = 1000;
export const APP_GID = 1000;
export const EXTRA_GID = 2000;

/** Size of each of the 3 random layers of `big`. */
export const BIG_LAYER_BYTES = 20 * 1024 * 1024;

// --- busybox ---

/** Applet paths (`usr/bin/env`, `bin/sh`, ...) as this busybox installs them. */
export function busyboxApplets(binary = BUSYBOX_BINARY): string[] {
  const out = execFileSync(binary, ['--list-full'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().replace(/^\/+/, ''))
    .filter((l) => l !== '' && !l.endsWith('/') && path.basename(l) !== 'busybox' && l !== 'linuxrc')
    .sort();
}

function busyboxEntries(binary: Buffer, applets: string[]): TarEntry[] {
  const entries: TarEntry[] = [
    { type: 'file', path: 'bin/busybox', data: binary, mode: 0o755 },
    { type: 'file', path: 'etc/passwd', data: Buffer.from(PASSWD), mode: 0o644 },
    { type: 'file', path: 'etc/group', data: Buffer.from(GROUP), mode: 0o644 },
    { type: 'dir', path: 'root', mode: 0o700 },
    { type: 'dir', path: 'home/app', mode: 0o755, uid: APP_UID, gid: APP_GID },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'var/tmp', mode: 0o1777 },
    { type: 'dir', path: 'var/www', mode: 0o755 },
    { type: 'dir', path: 'usr/local/bin', mode: 0o755 },
    { type: 'dir', path: 'proc', mode: 0o555 },
    { type: 'dir', path: 'sys', mode: 0o555 },
    { type: 'dir', path: 'dev', mode: 0o755 },
  ];
  const seen = new Set(entries.map((e) => e.path));
  for (const applet of applets) {
    if (seen.has(applet)) continue;
    seen.add(applet);
    entries.push({ type: 'symlink', path: applet, target: '/bin/busybox' });
  }
  return entries;
}

let busyboxLayerMemo: { key: string; layer: Layer } | undefined;

/** The busybox root filesystem layer (shared by busybox, nonroot and big). */
export function busyboxLayer(): Layer {
  const binary = fs.readFileSync(BUSYBOX_BINARY);
  const applets = busyboxApplets();
  const key = sha256(Buffer.concat([binary, Buffer.from(applets.join('\n') + PASSWD + GROUP)]));
  if (busyboxLayerMemo?.key === key) return busyboxLayerMemo.layer;
  // Remember key -> layer on disk too, so a new process need not gzip it again.
  const recordFile = path.join(cacheDir(), 'images', 'busybox-layer.json');
  let layer: Layer | undefined;
  try {
    const rec = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as { key: string; diffId: string; digest: string; size: number };
    const file = blobPath(rec.digest);
    if (rec.key === key && fs.statSync(file).size === rec.size) {
      layer = { diffId: rec.diffId, blob: { mediaType: MediaTypes.layerGzip, digest: rec.digest, size: rec.size, path: file } };
    }
  } catch {
    // no record: build
  }
  if (!layer) {
    layer = layerFromEntries(busyboxEntries(binary, applets));
    writeFileAtomic(recordFile, JSON.stringify({ key, diffId: layer.diffId, digest: layer.blob.digest, size: layer.blob.size }));
  }
  busyboxLayerMemo = { key, layer };
  return layer;
}

export async function busyboxImage(): Promise<FixtureImage> {
  const layer = busyboxLayer();
  return cachedImage('busybox', layer.blob.digest, () =>
    makeImage({ name: 'busybox', layers: [layer], config: { Env: [DEFAULT_PATH], Cmd: ['sh'] } }),
  );
}

export async function nonrootImage(): Promise<FixtureImage> {
  const layer = busyboxLayer();
  return cachedImage('nonroot', layer.blob.digest, () =>
    makeImage({
      name: 'nonroot',
      layers: [layer],
      config: { Env: [DEFAULT_PATH], Cmd: ['id'], User: String(APP_UID), WorkingDir: '/home/app' },
    }),
  );
}

// --- pause ---

/** Compiles fixtures/pause/pause.c (static) into the cache, once per source version. */
export function pauseBinary(): string {
  const source = fs.readFileSync(PAUSE_SOURCE);
  const out = path.join(cacheDir(), 'work', `pause-${sha256(source).slice(0, 16)}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    execFileSync('gcc', ['-static', '-O2', '-s', '-o', tmp, PAUSE_SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer };
    throw new Error(`compiling ${PAUSE_SOURCE} failed: ${e.stderr?.toString() ?? String(err)}`);
  }
  fs.renameSync(tmp, out);
  return out;
}

export async function pauseImage(): Promise<FixtureImage> {
  const source = fs.readFileSync(PAUSE_SOURCE);
  return cachedImage('pause', sha256(source), () => {
    const binary = fs.readFileSync(pauseBinary());
    const layer = layerFromEntries([{ type: 'file', path: 'pause', data: binary, mode: 0o755 }]);
    return makeImage({ name: 'pause', layers: [layer], config: { Entrypoint: ['/pause'], Env: [DEFAULT_PATH] } });
  });
}

// --- big ---

/** Deterministic incompressible bytes: xorshift32 from `seed`. */
export function pseudoRandomBytes(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

export async function bigImage(): Promise<FixtureImage> {
  const base = busyboxLayer();
  return cachedImage('big', `${base.blob.digest}\0${BIG_LAYER_BYTES}`, () => {
    const layers: Layer[] = [base];
    for (let i = 1; i <= 3; i++) {
      const data = pseudoRandomBytes(BIG_LAYER_BYTES, 0x12345 * i);
      const tar = buildTar([{ type: 'file', path: `data/big-${i}.bin`, data, mode: 0o644 }]);
      // Level 1: random data does not compress anyway; this keeps the first build fast.
      layers.push(layerFromTar(tar, { level: 1 }));
    }
    return makeImage({ name: 'big', layers, config: { Env: [DEFAULT_PATH], Cmd: ['sh'] } });
  });
}

// --- multiarch ---

/** The platform of the fake second manifest: arm64, or amd64 on an arm64 host. */
export function otherPlatform(): Platform {
  return hostPlatform().architecture === 'arm64' ? { architecture: 'amd64', os: 'linux' } : { architecture: 'arm64', os: 'linux', variant: 'v8' };
}

export async function multiarchImage(): Promise<FixtureImage> {
  const busybox = await busyboxImage();
  const other = otherPlatform();
  return cachedImage('multiarch', `${busybox.digest}\0${JSON.stringify(hostPlatform())}\0${JSON.stringify(other)}`, () => {
    const fakeLayer = layerFromEntries([
      { type: 'file', path: 'ARCH', data: Buffer.from(`${other.os}/${other.architecture}\n`), mode: 0o644 },
    ]);
    const fake = makeImage({
      name: `multiarch-${other.architecture}`,
      layers: [fakeLayer],
      platform: other,
      config: { Env: [DEFAULT_PATH], Cmd: ['/ARCH'] },
    });
    return makeIndex('multiarch', [
      { image: busybox, platform: hostPlatform() },
      { image: fake, platform: other },
    ]);
  });
}

// --- the set ---

export type FixtureName = 'busybox' | 'pause' | 'nonroot' | 'big' | 'multiarch';

export interface FixtureSpec {
  name: FixtureName;
  repository: string;
  tag: string;
  build: () => Promise<FixtureImage>;
}

export const FIXTURES: Record<FixtureName, FixtureSpec> = {
  busybox: { name: 'busybox', repository: 'crisp-test/busybox', tag: 'latest', build: busyboxImage },
  pause: { name: 'pause', repository: 'crisp-test/pause', tag: '3.10', build: pauseImage },
  nonroot: { name: 'nonroot', repository: 'crisp-test/nonroot', tag: 'latest', build: nonrootImage },
  big: { name: 'big', repository: 'crisp-test/big', tag: 'latest', build: bigImage },
  multiarch: { name: 'multiarch', repository: 'crisp-test/multiarch', tag: 'latest', build: multiarchImage },
};

export const FIXTURE_NAMES = Object.keys(FIXTURES) as FixtureName[];

export function buildFixture(name: FixtureName): Promise<FixtureImage> {
  const spec = FIXTURES[name];
  if (!spec) throw new Error(`unknown fixture "${name}" (known: ${FIXTURE_NAMES.join(', ')})`);
  return spec.build();
}
