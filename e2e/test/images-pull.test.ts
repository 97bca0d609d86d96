// PullImage against a real containerd and real local registries: by tag, by digest, through an index,
// with and without auth, and failures that must leave nothing behind.
import { ContainerdClient, OWNER_LABEL } from '@crisp/containerd';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc';
import { grpcError, makeTempDir, pushFixtures, startCrisp, startRegistry, startTestContainerd } from '@crisp/e2e';
import type { CrispProcess, TestContainerd, TestRegistry } from '@crisp/e2e';
import { chainId } from '../../packages/server/src/image/chain-id';

jest.setTimeout(180_000);

const NS = 'k8s.io';

describe('PullImage', () => {
  let containerd: TestContainerd;
  let registry: TestRegistry;
  let authRegistry: TestRegistry;
  let crisp: CrispProcess;
  let fixtures: Awaited<ReturnType<typeof pushFixtures>>;
  let authFixtures: Awaited<ReturnType<typeof pushFixtures>>;
  let client: ContainerdClient;

  const imageNames = async (): Promise<string[]> => (await client.images.list({ filters: [] })).images.map((i) => i.name).sort();
  const crispLeases = async (): Promise<string[]> =>
    (await client.leases.list({ filters: [`labels."${OWNER_LABEL}"`] })).leases.map((l) => l.id);

  beforeAll(async () => {
    containerd = await startTestContainerd();
    client = new ContainerdClient({ address: containerd.address, namespace: NS });
    [registry, authRegistry] = await Promise.all([startRegistry(), startRegistry({ auth: { username: 'kube', password: 's3cret' } })]);
    fixtures = await pushFixtures(registry, ['busybox', 'pause', 'nonroot', 'multiarch']);
    authFixtures = await pushFixtures(authRegistry, ['busybox']);
    // The plain-HTTP registry through a hosts.toml, as an operator would configure it.
    const hostsDir = makeTempDir('crisp-e2e-hosts-');
    const dir = path.join(hostsDir, registry.host);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'hosts.toml'), `server = "${registry.url}"\n\n[host."${registry.url}"]\n  capabilities = ["pull", "resolve"]\n`);
    crisp = await startCrisp({
      containerdAddress: containerd.address,
      config: `[registry]\nconfig_path = "${hostsDir}"\npull_progress_timeout_seconds = 10\n`,
    });
  });

  afterAll(async () => {
    client?.close();
    await crisp?.stop();
    await Promise.all([registry?.stop(), authRegistry?.stop()]);
    await containerd?.cleanup();
  });

  it('pulls by tag: image records, content, an unpacked snapshot chain, and an image that runs', async () => {
    const bb = fixtures.busybox;
    const res = await crisp.images.pullImage({ image: { image: bb.reference } });
    expect(res.imageRef).toBe(bb.imageId);
    const names = await imageNames();
    expect(names).toEqual(expect.arrayContaining([bb.reference, bb.digestReference, bb.imageId]));
    const record = await client.images.get({ name: bb.reference });
    expect(record.image?.target?.digest).toBe(bb.digest);
    expect(record.image?.labels).toMatchObject({ 'io.cri-containerd.image': 'managed', [OWNER_LABEL]: 'crisp' });

    const top = chainId(bb.image.diffIds)!;
    const snap = await client.snapshots.stat({ snapshotter: 'overlayfs', key: top });
    expect(snap.info?.name).toBe(top);
    const config = await client.content.info({ digest: bb.imageId });
    expect(config.info?.labels['containerd.io/gc.ref.snapshot.overlayfs']).toBe(top);
    expect(await crispLeases()).toEqual([]);

    // The unpacked rootfs is real: containerd runs it.
    const out = await containerd.ctr(['run', '--rm', bb.reference, 'pull-run-1', 'echo', 'hello from crisp pull'], { namespace: NS });
    expect(out.stdout).toContain('hello from crisp pull');
  });

  it('pulls by digest and through an index for this platform', async () => {
    const nr = fixtures.nonroot;
    expect((await crisp.images.pullImage({ image: { image: nr.digestReference } })).imageRef).toBe(nr.imageId);
    expect(await imageNames()).toEqual(expect.arrayContaining([nr.digestReference, nr.imageId]));
    expect(await imageNames()).not.toContain(nr.reference);

    const ma = fixtures.multiarch;
    expect((await crisp.images.pullImage({ image: { image: ma.reference } })).imageRef).toBe(ma.imageId);
    const record = await client.images.get({ name: ma.reference });
    expect(record.image?.target?.mediaType).toMatch(/index|manifest\.list/);
    const out = await containerd.ctr(['run', '--rm', ma.reference, 'pull-run-2', 'echo', 'multiarch ok'], { namespace: NS });
    expect(out.stdout).toContain('multiarch ok');
  });

  it('shares one pull between concurrent requests for the same reference', async () => {
    const ref = fixtures.pause.reference;
    const results = await Promise.all([1, 2, 3].map(() => crisp.images.pullImage({ image: { image: ref } })));
    expect(new Set(results.map((r) => r.imageRef))).toEqual(new Set([fixtures.pause.imageId]));
    const pulledLines = (await crisp.logs()).split('\n').filter((l) => l.includes('"image pulled"') && l.includes(ref));
    expect(pulledLines).toHaveLength(1);
  });

  it('authenticates with the CRI AuthConfig and reports the registry refusal', async () => {
    const ref = authFixtures.busybox.reference;
    const anon = await grpcError(crisp.images.pullImage({ image: { image: ref } }));
    expect(anon.code).toBe(Status.UNAUTHENTICATED);
    const wrong = await grpcError(crisp.images.pullImage({ image: { image: ref }, auth: { username: 'kube', password: 'nope' } }));
    expect(wrong.code).toBe(Status.UNAUTHENTICATED);
    expect(await imageNames()).not.toContain(ref);
    const ok = await crisp.images.pullImage({ image: { image: ref }, auth: { username: 'kube', password: 's3cret' } });
    expect(ok.imageRef).toBe(authFixtures.busybox.imageId);
    const viaAuth = await crisp.images.pullImage({
      image: { image: ref },
      auth: { auth: Buffer.from('kube:s3cret').toString('base64') },
    });
    expect(viaAuth.imageRef).toBe(authFixtures.busybox.imageId);
  });

  it('rejects malformed references and reports missing images', async () => {
    expect((await grpcError(crisp.images.pullImage({ image: { image: 'Not/Valid:ref!' } }))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(crisp.images.pullImage({ image: { image: '' } }))).code).toBe(Status.INVALID_ARGUMENT);
    const missing = await grpcError(crisp.images.pullImage({ image: { image: `${registry.host}/crisp-test/absent:1` } }));
    expect(missing.code).toBe(Status.NOT_FOUND);
  });

  it('fails cleanly on an unreachable registry and on a corrupted blob, leaving no record or lease', async () => {
    const before = await imageNames();
    const unreachable = await grpcError(crisp.images.pullImage({ image: { image: '127.0.0.1:9/crisp-test/busybox:latest' } }));
    expect(unreachable.code).toBe(Status.UNAVAILABLE);

    // Corrupt the pause layer in the registry's storage (same size, other bytes): crisp must notice.
    const corruptRegistry = await startRegistry();
    try {
      const pushed = await pushFixtures(corruptRegistry, ['pause']);
      const layer = pushed.pause.image.layers[pushed.pause.image.layers.length - 1]!;
      const hex = layer.digest.slice('sha256:'.length);
      const data = path.join(corruptRegistry.dir, 'data', 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
      writeFileSync(data, Buffer.alloc(layer.size, 7));
      // A fresh containerd namespace view: the layer must not already be present from the earlier pause pull.
      await containerd.ctr(['content', 'rm', layer.digest], { namespace: NS }).catch(() => undefined);
      await client.images.delete({ name: fixtures.pause.reference, sync: true }).catch(() => undefined);
      const corrupt = await grpcError(crisp.images.pullImage({ image: { image: pushed.pause.reference } }));
      expect([Status.DATA_LOSS, Status.FAILED_PRECONDITION]).toContain(corrupt.code);
      expect(corrupt.details).toMatch(/digest|size/i);
      expect(await imageNames()).not.toContain(pushed.pause.reference);
    } finally {
      await corruptRegistry.stop();
    }
    expect((await imageNames()).filter((n) => !before.includes(n))).toEqual([]);
    expect(await crispLeases()).toEqual([]);
  });

  it('a pull cancelled by the caller leaves no image record', async () => {
    const big = (await pushFixtures(registry, ['big'])).big;
    const err = await crisp.images.pullImage({ image: { image: big.reference } }, { signal: AbortSignal.timeout(300) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(['AbortError', 'TimeoutError']).toContain(err?.name);
    // crisp saw the cancellation and gave up the pull (the lease goes in its clean-up).
    const deadline = Date.now() + 10_000;
    while (!(await crisp.logs()).includes('"rpc":"PullImage","image":"' + big.reference + '","code":"CANCELLED"') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await crisp.logs()).toContain('"rpc":"PullImage","image":"' + big.reference + '","code":"CANCELLED"');
    await new Promise((r) => setTimeout(r, 500));
    expect(await imageNames()).not.toContain(big.reference);
    expect(await crispLeases()).toEqual([]);
  });
});
