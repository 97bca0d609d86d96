// The read side of the ImageService against a real containerd: ListImages, ImageStatus,
// StreamImages, ImageFsInfo and RemoveImage over images written both by crisp's own PullImage
// (three records each) and by `ctr images pull` (one tag record, as kind load / ctr import leave).
import { cri } from '@crisp/api';
import { containerdPaths } from '@crisp/server';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClientError, Status } from 'nice-grpc';
import { makeTempDir, pushFixtures, startCrisp, startRegistry, startTestContainerd } from '@crisp/e2e';
import type { CrispProcess, TestContainerd, TestRegistry } from '@crisp/e2e';
import { chainId } from '../../packages/server/src/image/chain-id';

jest.setTimeout(180_000);

const NS = 'k8s.io';

const spec = (image: string): cri.ImageSpec => ({ image, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' });

describe('ImageService read side', () => {
  let containerd: TestContainerd;
  let registry: TestRegistry;
  let crisp: CrispProcess;
  let fx: Awaited<ReturnType<typeof pushFixtures>>;
  let root: string;

  const ctr = async (args: string[]): Promise<string> => {
    const r = await containerd.ctr(args, { namespace: NS, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout;
  };
  const recordNames = async (): Promise<string[]> => (await ctr(['images', 'ls', '-q'])).split('\n').filter((l) => l !== '');
  const listAll = async (): Promise<cri.Image[]> => (await crisp.images.listImages({})).images;
  const status = (image: string, verbose = false) => crisp.images.imageStatus({ image: spec(image), verbose });

  beforeAll(async () => {
    containerd = await startTestContainerd();
    root = containerdPaths({ dir: containerd.dir }).root;
    registry = await startRegistry();
    fx = await pushFixtures(registry, ['busybox', 'nonroot', 'multiarch', 'pause']);

    // What another client leaves: ctr pull writes the tag record only (busybox, multiarch).
    for (const f of [fx.busybox, fx.multiarch]) await ctr(['images', 'pull', '--plain-http', f.reference]);
    // Mimic crisp's digest and ID records for busybox with ctr (no labels).
    await ctr(['images', 'tag', fx.busybox.reference, fx.busybox.digestReference]);
    await ctr(['images', 'tag', fx.busybox.reference, fx.busybox.imageId]);

    const hostsDir = makeTempDir('crisp-e2e-hosts-');
    mkdirSync(path.join(hostsDir, registry.host), { recursive: true });
    writeFileSync(
      path.join(hostsDir, registry.host, 'hosts.toml'),
      `server = "${registry.url}"\n\n[host."${registry.url}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    crisp = await startCrisp({
      containerdAddress: containerd.address,
      config: [
        `sandbox_image = "${fx.pause.reference}"`,
        '[containerd]',
        `root = "${root}"`,
        '[registry]',
        `config_path = "${hostsDir}"`,
        '',
      ].join('\n'),
    });
    // crisp's own pulls: three records each, with crisp's labels.
    for (const f of [fx.nonroot, fx.pause]) {
      expect((await crisp.images.pullImage({ image: spec(f.reference) })).imageRef).toBe(f.imageId);
    }
  });

  afterAll(async () => {
    await crisp?.stop();
    await registry?.stop();
    await containerd?.cleanup();
  });

  it('lists busybox once, grouped by config digest with the multiarch index that carries it', async () => {
    // The multiarch fixture's entry for this platform is the busybox image itself.
    expect(fx.multiarch.imageId).toBe(fx.busybox.imageId);
    const images = await listAll();
    const ids = images.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([fx.busybox.imageId, fx.nonroot.imageId, fx.pause.imageId].sort());

    const bb = images.filter((i) => i.repoTags.includes(fx.busybox.reference));
    expect(bb).toHaveLength(1);
    expect(bb[0]).toMatchObject({
      id: fx.busybox.imageId,
      repoTags: [fx.busybox.reference, fx.multiarch.reference].sort(),
      repoDigests: [fx.busybox.digestReference, fx.multiarch.digestReference].sort(),
      username: '',
      pinned: false,
      spec: { image: fx.busybox.imageId },
    });
    expect(bb[0]!.uid).toBeUndefined();
    expect(bb[0]!.size).toBeGreaterThan(0n);
    const busyboxBlobs = fx.busybox.image.layers.reduce((n, l) => n + l.size, 0);
    expect(Number(bb[0]!.size)).toBeGreaterThan(busyboxBlobs);

    const nr = images.find((i) => i.id === fx.nonroot.imageId)!;
    expect(nr).toMatchObject({ repoTags: [fx.nonroot.reference], repoDigests: [fx.nonroot.digestReference], uid: { value: 1000n }, username: '' });
    // What containerd's CRI plugin reports as well: manifest + config + layers.
    const img = fx.nonroot.image;
    expect(nr.size).toBe(BigInt(img.manifestBytes.length + img.configBlob!.size + img.layers.reduce((n, l) => n + l.size, 0)));
  });

  it('pins the configured sandbox image', async () => {
    const images = await listAll();
    expect(images.find((i) => i.id === fx.pause.imageId)?.pinned).toBe(true);
    expect(images.filter((i) => i.pinned)).toHaveLength(1);
  });

  it('filters ListImages by reference or ID', async () => {
    const byTag = await crisp.images.listImages({ filter: { image: spec(fx.nonroot.reference) } });
    expect(byTag.images.map((i) => i.id)).toEqual([fx.nonroot.imageId]);
    const byId = await crisp.images.listImages({ filter: { image: spec(fx.busybox.imageId) } });
    expect(byId.images.map((i) => i.id)).toEqual([fx.busybox.imageId]);
    expect((await crisp.images.listImages({ filter: { image: spec(`${registry.host}/crisp-test/nothere:1`) } })).images).toEqual([]);
    expect((await crisp.images.listImages({ filter: { image: spec('') } })).images).toHaveLength(3);
  });

  it('ImageStatus resolves tag, ID, bare ID, digest reference, ID prefix and another tag to the same image', async () => {
    const bb = fx.busybox;
    const hexId = bb.imageId.slice('sha256:'.length);
    for (const name of [bb.reference, bb.imageId, hexId, bb.digestReference, fx.multiarch.reference, fx.multiarch.digestReference, `sha256:${hexId.slice(0, 16)}`]) {
      const res = await status(name);
      expect({ name, id: res.image?.id }).toEqual({ name, id: bb.imageId });
      expect(res.info).toEqual({});
    }
    // crisp's digest record of nonroot, and the tag it came from.
    expect((await status(fx.nonroot.digestReference)).image?.id).toBe(fx.nonroot.imageId);
  });

  it('ImageStatus of an absent image is an empty answer, not an error; a malformed one is INVALID_ARGUMENT', async () => {
    expect(await status(`${registry.host}/crisp-test/nothere:latest`)).toEqual({ image: undefined, info: {} });
    expect(await status(`sha256:${'0'.repeat(64)}`)).toEqual({ image: undefined, info: {} });
    const err = await status('Bad//Ref').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(Status.INVALID_ARGUMENT);
  });

  it('ImageStatus verbose carries the image config and chain ID', async () => {
    const res = await status(fx.nonroot.reference, true);
    expect(res.image?.uid?.value).toBe(1000n);
    const info = JSON.parse(res.info['info']!) as {
      imageSpec: { config: { User: string; Cmd: string[]; WorkingDir: string }; rootfs: { diff_ids: string[] } };
      chainID: string;
      id: string;
    };
    expect(info.imageSpec.config).toMatchObject({ User: '1000', Cmd: ['id'], WorkingDir: '/home/app' });
    expect(info.imageSpec.rootfs.diff_ids).toEqual(fx.nonroot.image.diffIds);
    expect(info.chainID).toBe(chainId(fx.nonroot.image.diffIds));
    expect(info.id).toBe(fx.nonroot.imageId);
  });

  it('StreamImages sends each image once, then ends', async () => {
    const seen: string[] = [];
    let messages = 0;
    for await (const res of crisp.images.streamImages({})) {
      messages++;
      expect(res.images.length).toBeGreaterThan(0);
      seen.push(...res.images.map((i) => i.id));
    }
    expect(messages).toBeGreaterThan(0);
    expect(seen.sort()).toEqual((await listAll()).map((i) => i.id).sort());
    const filtered: cri.Image[] = [];
    for await (const res of crisp.images.streamImages({ filter: { image: spec(fx.pause.reference) } })) filtered.push(...res.images);
    expect(filtered.map((i) => i.id)).toEqual([fx.pause.imageId]);
  });

  it('ImageFsInfo reports the snapshotter directory and what the image layers use', async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const res = await crisp.images.imageFsInfo({});
    expect(res.imageFilesystems).toHaveLength(1);
    const fs = res.imageFilesystems[0]!;
    expect(fs.fsId?.mountpoint).toBe(path.join(root, 'io.containerd.snapshotter.v1.overlayfs'));
    expect(fs.usedBytes!.value).toBeGreaterThan(0n);
    expect(fs.inodesUsed!.value).toBeGreaterThan(0n);
    expect(fs.timestamp).toBeGreaterThanOrEqual(before);
  });

  it('RemoveImage by one tag removes every record of the image; again, or of an absent image, succeeds', async () => {
    const bb = fx.busybox;
    const names = [bb.reference, bb.digestReference, bb.imageId, fx.multiarch.reference];
    expect(await recordNames()).toEqual(expect.arrayContaining(names));
    await crisp.images.removeImage({ image: spec(bb.reference) });
    const left = await recordNames();
    for (const n of names) expect(left).not.toContain(n);
    // Other images are untouched.
    expect(left).toEqual(expect.arrayContaining([fx.nonroot.reference, fx.nonroot.digestReference, fx.nonroot.imageId, fx.pause.reference]));
    expect(await status(bb.reference)).toEqual({ image: undefined, info: {} });
    expect(await status(bb.imageId)).toEqual({ image: undefined, info: {} });
    expect((await listAll()).map((i) => i.id)).not.toContain(bb.imageId);
    // The last deletion was synchronous: containerd's GC has already taken busybox's config.
    expect(await ctr(['content', 'ls', '-q'])).not.toContain(bb.imageId);

    await expect(crisp.images.removeImage({ image: spec(bb.reference) })).resolves.toEqual({});
    await expect(crisp.images.removeImage({ image: spec(`${registry.host}/crisp-test/never:1`) })).resolves.toEqual({});
    await expect(crisp.images.removeImage({ image: spec(`sha256:${'0'.repeat(64)}`) })).resolves.toEqual({});
  });

  it('RemoveImage by ID removes crisp-pulled images with all three records', async () => {
    await crisp.images.removeImage({ image: spec(fx.nonroot.imageId) });
    const left = await recordNames();
    for (const n of [fx.nonroot.reference, fx.nonroot.digestReference, fx.nonroot.imageId]) expect(left).not.toContain(n);
    expect((await listAll()).map((i) => i.id)).toEqual([fx.pause.imageId]);
  });
});
