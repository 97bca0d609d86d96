import { createHash } from 'node:crypto';
import { snapshots } from '@crisp/api';
import { ContainerdError, OWNER_LABEL } from '@crisp/containerd';
import { currentPlatform, parseReference } from '@crisp/registry';
import { Status } from 'nice-grpc-common';
import { DEFAULT_CONFIG } from '../src/config/schema';
import type { CrispContext } from '../src/context';
import { statusOf } from '../src/errors';
import { committedSnapshotUsage, snapshotterMountpoint } from '../src/image/fs-info';
import {
  classifyRecordName,
  findImage,
  groupImages,
  ImageGroup,
  ImageRecord,
  listCriImages,
  loadImageGroups,
  parseImageQuery,
  resolveImage,
  sandboxImageKeys,
  toCriImage,
} from '../src/image/image-index';
import type { ImageMetadata } from '../src/image/metadata';
import { IMAGE_LABELS, imageRecordNames } from '../src/image/records';
import { removalOrder, removeImageRecords } from '../src/image/remove';
import { imageFsInfo } from '../src/rpc/image-fs-info';
import { imageStatus } from '../src/rpc/image-status';
import { removeImage } from '../src/rpc/remove-image';
import { streamImages } from '../src/rpc/stream-images';

const sha = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const hex = (c: string): string => `sha256:${c.repeat(64)}`;

const ID_A = hex('a');
const ID_B = hex('b');
const INDEX = hex('1');
const MANIFEST = hex('2');

function meta(id: string, target: string, extra: Partial<ImageMetadata> = {}): ImageMetadata {
  return {
    id,
    target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: target, size: 100 },
    manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: MANIFEST, size: 200 },
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: id, size: 300 },
    layers: [],
    diffIds: [],
    chainId: '',
    size: 600,
    os: 'linux',
    architecture: 'amd64',
    runtime: { user: '', env: [], entrypoint: [], cmd: [], workingDir: '', volumes: [], exposedPorts: [], stopSignal: '', labels: {} },
    username: '',
    ...extra,
  };
}

function rec(name: string, target: string, labels: Record<string, string> = {}): ImageRecord {
  return { name, target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: target, size: 100n, annotations: {} }, labels };
}

function entries(list: [string, string, string, Record<string, string>?][]) {
  return list.map(([name, target, id, labels]) => ({ record: rec(name, target, labels), metadata: meta(id, target) }));
}

describe('record names', () => {
  it('classifies tag and digest references, image IDs and others', () => {
    expect(classifyRecordName('docker.io/library/busybox:latest')).toMatchObject({ kind: 'tag', normalized: 'docker.io/library/busybox:latest', repository: 'docker.io/library/busybox' });
    expect(classifyRecordName('busybox:1')).toMatchObject({ kind: 'tag', normalized: 'docker.io/library/busybox:1' });
    expect(classifyRecordName(`localhost:5000/x@${INDEX}`)).toMatchObject({ kind: 'digest', repoDigest: `localhost:5000/x@${INDEX}` });
    expect(classifyRecordName(`busybox:1@${INDEX}`)).toMatchObject({ kind: 'digest', normalized: `docker.io/library/busybox:1@${INDEX}`, repoDigest: `docker.io/library/busybox@${INDEX}` });
    expect(classifyRecordName(ID_A)).toEqual({ kind: 'id', normalized: ID_A });
    expect(classifyRecordName('docker.io/library/busybox').kind).toBe('other');
    expect(classifyRecordName('Not A Ref!').kind).toBe('other');
  });

  it("match the pull pipeline's names (records.ts)", () => {
    const names = imageRecordNames(parseReference('busybox'), INDEX, ID_A);
    expect(names.map((n) => classifyRecordName(n).kind)).toEqual(['tag', 'digest', 'id']);
    expect(IMAGE_LABELS).toEqual({ 'io.cri-containerd.image': 'managed', [OWNER_LABEL]: 'crisp' });
  });
});

describe('groupImages', () => {
  it("groups crisp's three records of one image into one CRI image", () => {
    const groups = groupImages(
      entries([
        ['docker.io/library/busybox:latest', INDEX, ID_A],
        [`docker.io/library/busybox@${INDEX}`, INDEX, ID_A],
        [ID_A, INDEX, ID_A],
      ]),
    );
    expect(groups).toHaveLength(1);
    const img = toCriImage(groups[0]!);
    expect(img).toEqual({
      id: ID_A,
      repoTags: ['docker.io/library/busybox:latest'],
      repoDigests: [`docker.io/library/busybox@${INDEX}`],
      size: 600n,
      uid: undefined,
      username: '',
      spec: { image: ID_A, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
      pinned: false,
    });
  });

  it('adds name@<target digest> for a tag record (what ctr pull / kind load leave), and groups other targets with the same config', () => {
    const groups = groupImages(
      entries([
        ['registry.local/app:v1', INDEX, ID_A],
        ['registry.local/app:v1-again', INDEX, ID_A],
        ['other.local/mirror/app:latest', MANIFEST, ID_A],
        ['registry.local/tool:1', hex('3'), ID_B],
      ]),
    );
    expect(groups.map((g) => g.id)).toEqual([ID_A, ID_B]);
    expect(groups[0]!.repoTags).toEqual(['other.local/mirror/app:latest', 'registry.local/app:v1', 'registry.local/app:v1-again']);
    expect(groups[0]!.repoDigests).toEqual([`other.local/mirror/app@${MANIFEST}`, `registry.local/app@${INDEX}`]);
    expect(groups[1]!.repoTags).toEqual(['registry.local/tool:1']);
  });

  it('lists an image known only by ID or by odd names, without tags', () => {
    const [g] = groupImages(entries([[ID_A, INDEX, ID_A], ['import-2024-01-01', INDEX, ID_A]]));
    expect(g!.repoTags).toEqual([]);
    expect(g!.repoDigests).toEqual([]);
    expect(g!.records.map((r) => r.name)).toEqual(['import-2024-01-01', ID_A]);
  });

  it('prefers the metadata of the image ID record', () => {
    const list = [
      { record: rec('a.local/x:1', MANIFEST), metadata: meta(ID_A, MANIFEST, { size: 1 }) },
      { record: rec(ID_A, INDEX), metadata: meta(ID_A, INDEX, { size: 2 }) },
    ];
    expect(groupImages(list)[0]!.metadata.size).toBe(2);
  });

  it('pins the sandbox image (compared normalized) and images labelled pinned', () => {
    const list = entries([
      ['registry.k8s.io/pause:3.10', INDEX, ID_A],
      ['docker.io/library/busybox:latest', hex('3'), ID_B],
    ]);
    expect(groupImages(list, { sandboxImage: 'registry.k8s.io/pause:3.10' }).map((g) => g.pinned)).toEqual([true, false]);
    expect(groupImages(list, { sandboxImage: 'busybox' }).map((g) => g.pinned)).toEqual([false, true]);
    expect(groupImages(list, { sandboxImage: `registry.k8s.io/pause@${INDEX}` }).map((g) => g.pinned)).toEqual([true, false]);
    expect(groupImages(list, { sandboxImage: ID_B }).map((g) => g.pinned)).toEqual([false, true]);
    expect(groupImages(list, { sandboxImage: 'Not Valid' }).map((g) => g.pinned)).toEqual([false, false]);
    const labelled = entries([['x.local/y:1', INDEX, ID_A, { 'io.cri-containerd.pinned': 'pinned' }]]);
    expect(groupImages(labelled)[0]!.pinned).toBe(true);
    expect(sandboxImageKeys('')).toEqual([]);
  });

  it('reports uid and username from the config', () => {
    const g = groupImages([{ record: rec('a.local/x:1', INDEX), metadata: meta(ID_A, INDEX, { uid: 1000n }) }])[0]!;
    expect(toCriImage(g)).toMatchObject({ uid: { value: 1000n }, username: '' });
    const h = groupImages([{ record: rec('a.local/x:1', INDEX), metadata: meta(ID_A, INDEX, { username: 'app' }) }])[0]!;
    expect(toCriImage(h)).toMatchObject({ uid: undefined, username: 'app' });
  });
});

describe('resolving ImageSpec.image', () => {
  const groups: ImageGroup[] = groupImages(
    entries([
      ['docker.io/library/busybox:latest', INDEX, ID_A],
      [`docker.io/library/busybox@${INDEX}`, INDEX, ID_A],
      [ID_A, INDEX, ID_A],
      ['quay.io/org/tool:1.0', hex('3'), ID_B],
      [`localhost:5000/img:2@${hex('4')}`, hex('4'), hex('c')],
      ['abcdef:latest', hex('5'), hex('d')],
      ['x.local/y:1', hex('6'), `sha256:abcdef${'0'.repeat(58)}`],
    ]),
  );
  const find = (s: string): string | undefined => findImage(groups, parseImageQuery(s))?.id;

  it('finds by tag, normalized', () => {
    for (const s of ['busybox', 'busybox:latest', 'library/busybox', 'docker.io/library/busybox:latest', 'index.docker.io/library/busybox']) {
      expect(find(s)).toBe(ID_A);
    }
    expect(find('quay.io/org/tool:1.0')).toBe(ID_B);
    expect(find('busybox:1.36')).toBeUndefined();
    expect(find('quay.io/org/tool')).toBeUndefined();
  });

  it('finds by digest reference, also one derived from a tag record, and tag+digest by its digest', () => {
    expect(find(`busybox@${INDEX}`)).toBe(ID_A);
    expect(find(`quay.io/org/tool@${hex('3')}`)).toBe(ID_B);
    expect(find(`busybox:whatever@${INDEX}`)).toBe(ID_A);
    expect(find(`localhost:5000/img:2@${hex('4')}`)).toBe(hex('c'));
    expect(find(`localhost:5000/img@${hex('4')}`)).toBe(hex('c'));
    expect(find(`busybox@${hex('9')}`)).toBeUndefined();
  });

  it('finds by image ID, with or without sha256:, and by a unique ID prefix after names', () => {
    expect(find(ID_A)).toBe(ID_A);
    expect(find('b'.repeat(64))).toBe(ID_B);
    expect(find(hex('e'))).toBeUndefined();
    expect(find('sha256:bbbb')).toBe(ID_B);
    expect(find('bbbbbbbbbbbb')).toBe(ID_B);
    expect(find('cccc')).toBe(hex('c'));
    expect(find('eeee')).toBeUndefined();
    // A name wins over an ID prefix: "abcdef" is docker.io/library/abcdef:latest, a record name.
    expect(find('abcdef')).toBe(hex('d'));
    expect(find('abcde')).toBe(`sha256:abcdef${'0'.repeat(58)}`);
  });

  it('refuses an ambiguous ID prefix and malformed references', () => {
    const two = groupImages(entries([['a.local/a:1', INDEX, `sha256:ab${'0'.repeat(62)}`], ['a.local/b:1', MANIFEST, `sha256:ab${'1'.repeat(62)}`]]));
    let err: unknown;
    try {
      findImage(two, parseImageQuery('sha256:ab'));
    } catch (e) {
      err = e;
    }
    expect(statusOf(err)).toBe(Status.INVALID_ARGUMENT);
    for (const bad of ['UPPER/case', 'a b', 'busybox:', 'busybox@sha256:123', '']) {
      let e: unknown;
      try {
        parseImageQuery(bad);
      } catch (x) {
        e = x;
      }
      expect(e).toBeDefined();
      expect(statusOf(e)).toBe(Status.INVALID_ARGUMENT);
    }
  });
});

// --- against a fake containerd: listing, skipping broken records, removal, fs usage ---

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

interface FakeImage {
  name: string;
  target: { mediaType: string; digest: string; size: bigint; annotations: Record<string, string> };
  labels: Record<string, string>;
}

function fakeContext(sandboxImage = 'registry.k8s.io/pause:3.10') {
  const blobs = new Map<string, Buffer>();
  const images = new Map<string, FakeImage>();
  const deletes: { name: string; sync: boolean }[] = [];
  const debug: unknown[] = [];
  const snaps: { name: string; kind: snapshots.Kind; size: bigint; inodes: bigint; gone?: boolean }[] = [];
  const notFound = (what: string) => new ContainerdError('/fake', Status.NOT_FOUND, `${what}: not found`);
  const put = (value: unknown): { digest: string; size: number } => {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = sha(bytes);
    blobs.set(digest, bytes);
    return { digest, size: bytes.length };
  };
  const containerd = {
    images: {
      list: async () => ({ images: [...images.values()].map((i) => ({ ...i, createdAt: undefined, updatedAt: undefined })) }),
      delete: async (req: { name: string; sync: boolean }) => {
        if (!images.delete(req.name)) throw notFound(req.name);
        deletes.push({ name: req.name, sync: req.sync });
        return {};
      },
    },
    content: {
      info: async (req: { digest: string }) => {
        const b = blobs.get(req.digest);
        if (!b) throw notFound(req.digest);
        return { info: { digest: req.digest, size: BigInt(b.length), labels: {} } };
      },
      read: async function* (req: { digest: string }) {
        const b = blobs.get(req.digest);
        if (!b) throw notFound(req.digest);
        yield { data: b, offset: 0n };
      },
    },
    snapshots: {
      list: async function* (req: { snapshotter: string }) {
        expect(req.snapshotter).toBe('overlayfs');
        yield { info: snaps.slice(0, 2).map((s) => ({ name: s.name, kind: s.kind })) };
        yield { info: snaps.slice(2).map((s) => ({ name: s.name, kind: s.kind })) };
      },
      usage: async (req: { key: string }) => {
        const s = snaps.find((x) => x.name === req.key);
        if (!s || s.gone) throw notFound(req.key);
        return { size: s.size, inodes: s.inodes };
      },
    },
  };
  const logger = {
    debug: (...args: unknown[]) => debug.push(args),
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  };
  const ctx = {
    config: { ...DEFAULT_CONFIG, sandboxImage, containerd: { ...DEFAULT_CONFIG.containerd, root: '/var/lib/ctrd' } },
    containerd,
    logger,
    version: 'test',
  } as unknown as CrispContext;

  /** An image with its manifest and config in the store; returns the ids. */
  const addImage = (names: string[], user = '', layerSeed = names[0]!) => {
    const config = put({ architecture: currentPlatform().architecture, os: 'linux', config: { User: user }, rootfs: { type: 'layers', diff_ids: [sha(layerSeed)] } });
    const manifest = put({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, ...config }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(`layer ${layerSeed}`), size: 1000 }] });
    for (const name of names) {
      images.set(name, { name, target: { mediaType: OCI_MANIFEST, digest: manifest.digest, size: BigInt(manifest.size), annotations: {} }, labels: {} });
    }
    return { id: config.digest, manifest: manifest.digest, configSize: config.size, manifestSize: manifest.size };
  };
  return { ctx, blobs, images, deletes, debug, snaps, addImage };
}

describe('image RPCs against a fake containerd', () => {
  it('lists every image once, skipping records whose content is gone with a debug log', async () => {
    const f = fakeContext();
    const bb = f.addImage(['docker.io/library/busybox:latest']);
    const nr = f.addImage(['docker.io/library/nonroot:latest'], '1000');
    f.blobs.delete(nr.id); // nonroot's config was garbage-collected
    const images = await listCriImages(f.ctx, '');
    expect(images.map((i) => i.repoTags)).toEqual([['docker.io/library/busybox:latest']]);
    expect(images[0]!.size).toBe(BigInt(bb.manifestSize + bb.configSize + 1000));
    expect(images[0]!.repoDigests).toEqual([`docker.io/library/busybox@${bb.manifest}`]);
    expect(JSON.stringify(f.debug)).toContain('content missing');
    expect(await listCriImages(f.ctx, 'nonroot')).toEqual([]);
    expect((await listCriImages(f.ctx, 'busybox')).map((i) => i.id)).toEqual([bb.id]);
  });

  it('ImageStatus: the image, an empty answer when absent, verbose info with the config', async () => {
    const f = fakeContext();
    const nr = f.addImage(['docker.io/library/nonroot:latest'], '1000:1000');
    const res = await imageStatus(f.ctx, { image: { image: 'nonroot', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' }, verbose: true });
    expect(res.image).toMatchObject({ id: nr.id, uid: { value: 1000n }, username: '' });
    const info = JSON.parse(res.info['info']!) as { imageSpec: { config: { User: string } }; chainID: string };
    expect(info.imageSpec.config.User).toBe('1000:1000');
    expect(info.chainID).toBe(sha('docker.io/library/nonroot:latest'));
    const absent = await imageStatus(f.ctx, { image: { image: 'nothere', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' }, verbose: false });
    expect(absent).toEqual({ image: undefined, info: {} });
    const plain = await imageStatus(f.ctx, { image: { image: nr.id, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' }, verbose: false });
    expect(plain.info).toEqual({});
  });

  it('RemoveImage removes every record, the ID record last and synchronously; absent is success', async () => {
    const f = fakeContext();
    const bb = f.addImage(['docker.io/library/busybox:latest', 'docker.io/library/busybox:1']);
    f.images.set(bb.id, { ...f.images.get('docker.io/library/busybox:latest')!, name: bb.id });
    f.images.set(`docker.io/library/busybox@${bb.manifest}`, { ...f.images.get('docker.io/library/busybox:latest')!, name: `docker.io/library/busybox@${bb.manifest}` });
    const other = f.addImage(['docker.io/library/other:latest']);
    const spec = (image: string) => ({ image: { image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' } });
    await removeImage(f.ctx, spec('busybox:1'));
    expect(f.deletes).toEqual([
      { name: 'docker.io/library/busybox:1', sync: false },
      { name: 'docker.io/library/busybox:latest', sync: false },
      { name: `docker.io/library/busybox@${bb.manifest}`, sync: false },
      { name: bb.id, sync: true },
    ]);
    expect([...f.images.keys()]).toEqual(['docker.io/library/other:latest']);
    await expect(removeImage(f.ctx, spec('busybox:1'))).resolves.toEqual({});
    await expect(removeImage(f.ctx, spec(bb.id))).resolves.toEqual({});
    expect(f.deletes).toHaveLength(4);
    expect((await resolveImage(f.ctx, 'other'))?.id).toBe(other.id);
  });

  it('removeImageRecords tolerates records deleted meanwhile', async () => {
    const f = fakeContext();
    f.addImage(['a.local/x:1', 'a.local/x:2']);
    const [group] = await loadImageGroups(f.ctx);
    f.images.delete('a.local/x:1');
    expect(await removeImageRecords(f.ctx, group!)).toEqual(['a.local/x:2']);
    expect(removalOrder([rec(ID_A, INDEX), rec('z.local/z:1', INDEX), rec('a.local/a:1', INDEX)]).map((r) => r.name)).toEqual(['a.local/a:1', 'z.local/z:1', ID_A]);
  });

  it('StreamImages sends each image once and ends', async () => {
    const f = fakeContext();
    for (let i = 0; i < 450; i++) f.addImage([`a.local/img${i}:latest`]);
    const batches: number[] = [];
    const ids = new Set<string>();
    for await (const res of streamImages(f.ctx, { filter: undefined })) {
      batches.push(res.images.length);
      for (const img of res.images) {
        expect(ids.has(img.id)).toBe(false);
        ids.add(img.id);
      }
    }
    expect(batches).toEqual([200, 200, 50]);
    expect(ids.size).toBe(450);
    const filtered = [];
    for await (const res of streamImages(f.ctx, { filter: { image: { image: 'a.local/img7', annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' } } })) filtered.push(...res.images);
    expect(filtered.map((i) => i.repoTags)).toEqual([['a.local/img7:latest']]);
    const empty = fakeContext();
    const none = [];
    for await (const res of streamImages(empty.ctx, { filter: undefined })) none.push(res);
    expect(none).toEqual([]);
  });

  it('ImageFsInfo sums the committed snapshots of the snapshotter', async () => {
    const f = fakeContext();
    f.snaps.push(
      { name: 'c1', kind: snapshots.Kind.COMMITTED, size: 1000n, inodes: 10n },
      { name: 'active', kind: snapshots.Kind.ACTIVE, size: 5000n, inodes: 50n },
      { name: 'c2', kind: snapshots.Kind.COMMITTED, size: 24n, inodes: 2n },
      { name: 'c3-gone', kind: snapshots.Kind.COMMITTED, size: 7n, inodes: 7n, gone: true },
      { name: 'view', kind: snapshots.Kind.VIEW, size: 9n, inodes: 9n },
    );
    expect(await committedSnapshotUsage(f.ctx, 'overlayfs')).toEqual({ usedBytes: 1024n, inodesUsed: 12n, snapshots: 3 });
    const before = BigInt(Date.now()) * 1_000_000n;
    const res = await imageFsInfo(f.ctx, {});
    expect(res.imageFilesystems).toHaveLength(1);
    const fs = res.imageFilesystems[0]!;
    expect(fs.fsId).toEqual({ mountpoint: '/var/lib/ctrd/io.containerd.snapshotter.v1.overlayfs' });
    expect(fs.usedBytes).toEqual({ value: 1024n });
    expect(fs.inodesUsed).toEqual({ value: 12n });
    expect(fs.timestamp).toBeGreaterThanOrEqual(before);
    expect(res.containerFilesystems).toEqual([]);
    expect(snapshotterMountpoint('/r/', 'native')).toBe('/r/io.containerd.snapshotter.v1.native');
  });
});
