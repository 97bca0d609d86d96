import { createHash } from 'node:crypto';
import { ContainerdError } from '@crisp/containerd';
import { Status } from 'nice-grpc-common';
import { chainId } from '../src/image/chain-id';
import { mapLimit } from '../src/image/concurrency';
import { LruCache } from '../src/image/lru';
import {
  Blob,
  BlobReader,
  ImageContentError,
  ImageMetadataCache,
  loadImageMetadata,
  parseImageUser,
  parseRuntimeConfig,
} from '../src/image/metadata';

const sha = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const hex = (c: string): string => `sha256:${c.repeat(64)}`;

/** An in-memory content store that counts reads. */
class FakeStore {
  readonly blobs = new Map<string, Buffer>();
  reads: string[] = [];
  put(value: unknown, mediaType: string): Blob {
    const bytes = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    const digest = sha(bytes);
    this.blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  }
  reader: BlobReader = async (digest, maxBytes) => {
    this.reads.push(digest);
    const b = this.blobs.get(digest);
    if (!b) throw new ContainerdError('/containerd.services.content.v1.Content/Info', Status.NOT_FOUND, `content digest ${digest}: not found`);
    if (b.length > maxBytes) {
      const e = new Error(`content ${digest} is too large`);
      e.name = 'ContentTooLargeError';
      throw e;
    }
    return b;
  };
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

function makeImage(store: FakeStore, opts: { user?: string; arch?: string; diffIds?: string[]; layerSizes?: number[] } = {}) {
  const diffIds = opts.diffIds ?? [hex('a'), hex('b')];
  const config = store.put(
    {
      architecture: opts.arch ?? 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: {
        User: opts.user ?? '',
        Env: ['PATH=/bin'],
        Entrypoint: ['/entry'],
        Cmd: ['sh'],
        WorkingDir: '/w',
        Volumes: { '/data': {}, '/cache': {} },
        ExposedPorts: { '80/tcp': {} },
        StopSignal: 'SIGQUIT',
        Labels: { a: 'b' },
      },
      rootfs: { type: 'layers', diff_ids: diffIds },
    },
    OCI_CONFIG,
  );
  const sizes = opts.layerSizes ?? diffIds.map((_, i) => 1000 * (i + 1));
  const layers = sizes.map((size, i) => ({ mediaType: LAYER, digest: hex(String.fromCharCode(0x30 + i)), size }));
  const manifest = store.put({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST);
  return { config, manifest, layers };
}

describe('chain ID', () => {
  it('is the diff ID for one layer, then sha256(parent + " " + diffID)', () => {
    expect(chainId([])).toBeUndefined();
    expect(chainId([hex('a')])).toBe(hex('a'));
    // Computed by hand: printf '%s %s' sha256:aaa… sha256:bbb… | sha256sum
    expect(chainId([hex('a'), hex('b')])).toBe('sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c');
    expect(chainId([hex('a'), hex('b'), hex('c')])).toBe('sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588');
  });
});

describe('image user', () => {
  it.each([
    ['', { username: '' }],
    ['1000', { uid: 1000n, username: '' }],
    ['1000:1000', { uid: 1000n, username: '' }],
    ['0', { uid: 0n, username: '' }],
    ['app', { username: 'app' }],
    ['app:grp', { username: 'app' }],
    ['app:1000', { username: 'app' }],
    ['99999999999999999999', { username: '99999999999999999999' }],
  ])('User %j', (user, expected) => {
    expect(parseImageUser(user)).toEqual(expected);
  });

  it('treats a missing User as unset', () => {
    expect(parseImageUser(undefined)).toEqual({ username: '' });
  });
});

describe('runtime config', () => {
  it('keeps the typed fields and drops mistyped ones', () => {
    expect(parseRuntimeConfig({ config: { User: 5, Env: ['A=1', 3], Volumes: { '/b': {}, '/a': {} }, Labels: { x: 'y', n: 1 } } })).toEqual({
      user: '',
      env: ['A=1'],
      entrypoint: [],
      cmd: [],
      workingDir: '',
      volumes: ['/a', '/b'],
      exposedPorts: [],
      stopSignal: '',
      labels: { x: 'y' },
    });
    expect(parseRuntimeConfig(null).env).toEqual([]);
  });
});

describe('loadImageMetadata', () => {
  it('reads a manifest target: id, layers, size, chain ID, config', async () => {
    const store = new FakeStore();
    const { config, manifest, layers } = makeImage(store, { user: '1000:1000' });
    const m = await loadImageMetadata(store.reader, manifest, AMD64);
    expect(m.id).toBe(config.digest);
    expect(m.manifest).toEqual(manifest);
    expect(m.target).toEqual(manifest);
    expect(m.layers).toEqual(layers);
    expect(m.size).toBe(manifest.size + config.size + 1000 + 2000);
    expect(m.diffIds).toEqual([hex('a'), hex('b')]);
    expect(m.chainId).toBe(chainId([hex('a'), hex('b')]));
    expect(m.uid).toBe(1000n);
    expect(m.username).toBe('');
    expect(m.os).toBe('linux');
    expect(m.architecture).toBe('amd64');
    expect(m.created).toBe('2024-01-01T00:00:00Z');
    expect(m.runtime).toEqual({
      user: '1000:1000',
      env: ['PATH=/bin'],
      entrypoint: ['/entry'],
      cmd: ['sh'],
      workingDir: '/w',
      volumes: ['/cache', '/data'],
      exposedPorts: ['80/tcp'],
      stopSignal: 'SIGQUIT',
      labels: { a: 'b' },
    });
  });

  it("follows an index to this platform's manifest, counting the index in the size", async () => {
    const store = new FakeStore();
    const amd = makeImage(store, { arch: 'amd64', user: 'app' });
    const arm = makeImage(store, { arch: 'arm64', diffIds: [hex('f')] });
    const index = store.put(
      { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...arm.manifest, platform: ARM64 }, { ...amd.manifest, platform: AMD64 }] },
      OCI_INDEX,
    );
    const onAmd = await loadImageMetadata(store.reader, index, AMD64);
    expect(onAmd.id).toBe(amd.config.digest);
    expect(onAmd.target).toEqual(index);
    expect(onAmd.manifest.digest).toBe(amd.manifest.digest);
    expect(onAmd.size).toBe(index.size + amd.manifest.size + amd.config.size + 3000);
    expect(onAmd.username).toBe('app');
    expect(onAmd.uid).toBeUndefined();
    const onArm = await loadImageMetadata(store.reader, index, { os: 'linux', architecture: 'arm64' });
    expect(onArm.id).toBe(arm.config.digest);
    expect(onArm.chainId).toBe(hex('f'));
  });

  it("reads only the platform's manifest: the other platforms' content may be absent", async () => {
    const store = new FakeStore();
    const amd = makeImage(store);
    const index = store.put(
      { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: hex('9'), size: 10, platform: ARM64 }, { ...amd.manifest, platform: AMD64 }] },
      OCI_INDEX,
    );
    await expect(loadImageMetadata(store.reader, index, AMD64)).resolves.toMatchObject({ id: amd.config.digest });
    expect(store.reads).not.toContain(hex('9'));
  });

  it('detects the media type from the body when the descriptor has none', async () => {
    const store = new FakeStore();
    const { manifest, config } = makeImage(store);
    await expect(loadImageMetadata(store.reader, { ...manifest, mediaType: '' }, AMD64)).resolves.toMatchObject({ id: config.digest });
  });

  it('lets missing content surface as containerd NOT_FOUND', async () => {
    const store = new FakeStore();
    const { manifest, config } = makeImage(store);
    store.blobs.delete(config.digest);
    await expect(loadImageMetadata(store.reader, manifest, AMD64)).rejects.toMatchObject({ name: 'ContainerdError', code: 'not-found' });
  });

  it('refuses unusable content with ImageContentError', async () => {
    const store = new FakeStore();
    const bad = store.put('not json', OCI_MANIFEST);
    await expect(loadImageMetadata(store.reader, bad, AMD64)).rejects.toBeInstanceOf(ImageContentError);
    const amd = makeImage(store);
    const armOnly = store.put({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...amd.manifest, platform: { os: 'linux', architecture: 's390x' } }] }, OCI_INDEX);
    await expect(loadImageMetadata(store.reader, armOnly, AMD64)).rejects.toThrow(/no matching manifest for linux\/amd64/);
    // A blob whose bytes are not what its digest says.
    store.blobs.set(amd.manifest.digest, Buffer.from('{}'));
    await expect(loadImageMetadata(store.reader, amd.manifest, AMD64)).rejects.toThrow(/does not match its digest/);
    // An artifact: a manifest whose config is not an image config.
    const helmConfig = store.put({ name: 'chart' }, 'application/vnd.cncf.helm.config.v1+json');
    const helm = store.put({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: helmConfig, layers: [] }, OCI_MANIFEST);
    await expect(loadImageMetadata(store.reader, helm, AMD64)).rejects.toThrow(/not a container image/);
    // Too large to read.
    const huge = store.put({ schemaVersion: 2, manifests: [], pad: 'x'.repeat(5 * 1024 * 1024) }, OCI_INDEX);
    await expect(loadImageMetadata(store.reader, huge, AMD64)).rejects.toBeInstanceOf(ImageContentError);
  });
});

describe('ImageMetadataCache', () => {
  it('reads a target once, shares concurrent loads and caches bad content, but not missing content', async () => {
    const store = new FakeStore();
    const { manifest, config } = makeImage(store);
    const cache = new ImageMetadataCache(10, AMD64);
    const [a, b] = await Promise.all([cache.get(manifest, store.reader), cache.get(manifest, store.reader)]);
    expect(a.id).toBe(config.digest);
    expect(b).toBe(a);
    await cache.get({ ...manifest, size: BigInt(manifest.size), annotations: {} }, store.reader);
    expect(store.reads).toEqual([manifest.digest, config.digest]);

    const bad = store.put('garbage', OCI_MANIFEST);
    await expect(cache.get(bad, store.reader)).rejects.toBeInstanceOf(ImageContentError);
    await expect(cache.get(bad, store.reader)).rejects.toBeInstanceOf(ImageContentError);
    expect(store.reads.filter((d) => d === bad.digest)).toHaveLength(1);

    const other = makeImage(store, { diffIds: [hex('e')] });
    store.blobs.delete(other.config.digest);
    await expect(cache.get(other.manifest, store.reader)).rejects.toMatchObject({ code: 'not-found' });
    // The content arrives (a pull finished): the next get succeeds.
    const rebuilt = makeImage(store, { diffIds: [hex('e')] });
    expect(rebuilt.manifest.digest).toBe(other.manifest.digest);
    await expect(cache.get(other.manifest, store.reader)).resolves.toMatchObject({ id: rebuilt.config.digest });
  });

  it('is bounded', async () => {
    const store = new FakeStore();
    const cache = new ImageMetadataCache(3, AMD64);
    for (let i = 0; i < 6; i++) await cache.get(makeImage(store, { diffIds: [sha(String(i))] }).manifest, store.reader);
    expect(cache.size).toBe(3);
  });
});

describe('LruCache', () => {
  it('evicts the least recently used entry beyond its bound', () => {
    const lru = new LruCache<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('c', 3);
    expect(lru.size).toBe(2);
    expect(lru.has('b')).toBe(false);
    expect(lru.keys()).toEqual(['a', 'c']);
    lru.set('a', 10); // refresh
    lru.set('d', 4);
    expect(lru.keys()).toEqual(['a', 'd']);
    expect(lru.get('a')).toBe(10);
    expect(() => new LruCache(0)).toThrow(RangeError);
  });

  it('holds 2048 entries at most by default in the metadata cache', () => {
    const lru = new LruCache<number, number>(2048);
    for (let i = 0; i < 5000; i++) lru.set(i, i);
    expect(lru.size).toBe(2048);
    expect(lru.get(5000 - 2048)).toBe(5000 - 2048);
    expect(lru.get(5000 - 2049)).toBeUndefined();
  });
});

describe('mapLimit', () => {
  it('keeps order, bounds concurrency and throws the first error after the calls in flight end', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
    const started: number[] = [];
    await expect(
      mapLimit([1, 2, 3, 4], 1, async (n) => {
        started.push(n);
        if (n === 2) throw new Error('boom');
        return n;
      }),
    ).rejects.toThrow('boom');
    expect(started).toEqual([1, 2]);
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});
