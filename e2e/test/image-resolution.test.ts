// CreateContainer resolves images from groups crisp keeps between calls: another client's removal or
// new tag must still be seen (through containerd's image events), and crisp's own pull at once.
import { cri } from '@crisp/api';
import { ContainerdClient } from '@crisp/containerd';
import { Status } from 'nice-grpc';
import { containerConfig, eventually, grpcError, makeTempDir, podConfig, pushFixtures, startCrisp, startRegistry, startTestContainerd } from '@crisp/e2e';
import type { CrispProcess, TestContainerd, TestRegistry } from '@crisp/e2e';

jest.setTimeout(300_000);

const NS = 'k8s.io';

describe('image resolution for CreateContainer', () => {
  let containerd: TestContainerd;
  let registry: TestRegistry;
  let crisp: CrispProcess;
  let client: ContainerdClient;
  let busybox: string;
  let podId: string;
  let pod: cri.PodSandboxConfig;
  let attempt = 0;

  /** CreateContainer of `image` in the test pod, under a fresh name. */
  const create = (image: string): Promise<cri.CreateContainerResponse> =>
    crisp.runtime.createContainer({ podSandboxId: podId, config: containerConfig(`c${attempt++}`, image, ['true']), sandboxConfig: pod });
  const containerIds = async (): Promise<string[]> => (await client.containers.list({ filters: [] })).containers.map((c) => c.id).sort();

  beforeAll(async () => {
    containerd = await startTestContainerd();
    client = new ContainerdClient({ address: containerd.address, namespace: NS });
    registry = await startRegistry();
    const images = await pushFixtures(registry, ['busybox', 'pause']);
    busybox = images.busybox.reference;
    crisp = await startCrisp({ containerdAddress: containerd.address, config: `sandbox_image = "${images.pause.reference}"\n` });
    await crisp.images.pullImage({ image: { image: busybox } });
    // Host network: no CNI needed for what this tests.
    pod = podConfig('pod-img', {
      logDirectory: makeTempDir('crisp-e2e-img-logs-'),
      linux: { securityContext: { namespaceOptions: { network: cri.NamespaceMode.NODE, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } } as never,
    });
    podId = (await crisp.runtime.runPodSandbox({ config: pod })).podSandboxId;
  });

  afterAll(async () => {
    if (podId) {
      await crisp.runtime.stopPodSandbox({ podSandboxId: podId }).catch(() => undefined);
      await crisp.runtime.removePodSandbox({ podSandboxId: podId }).catch(() => undefined);
    }
    client?.close();
    await crisp?.stop();
    await containerd?.cleanup();
    await registry?.stop();
  });

  it("sees another client's removal of an image, and crisp's own pull of it at once", async () => {
    await create(busybox); // resolved, and kept
    const { images } = await client.images.list({ filters: [] });
    const target = images.find((i) => i.name === busybox)!.target!.digest;
    for (const img of images.filter((i) => i.target?.digest === target)) await client.images.delete({ name: img.name, sync: false });

    await eventually('CreateContainer to find the image gone', async () => {
      const e = await grpcError(create(busybox)).catch(() => undefined);
      return e?.code === Status.NOT_FOUND;
    });
    const before = await containerIds();
    const err = await grpcError(create(busybox));
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toContain('not found');
    expect(await containerIds()).toEqual(before); // a refused create leaves nothing

    await crisp.images.pullImage({ image: { image: busybox } });
    const { containerId } = await create(busybox); // no waiting for an event: the pull itself counts
    expect(containerId).toMatch(/^[0-9a-f]{64}$/);
  });

  it("sees another client's new name for an image", async () => {
    await create(busybox);
    const { image } = await client.images.get({ name: busybox });
    const alias = `${registry.host}/e2e/alias:v1`;
    await client.images.create({ image: { ...image!, name: alias, createdAt: undefined, updatedAt: undefined } });
    const { containerId } = await eventually('CreateContainer to resolve the new name', () => create(alias).catch(() => undefined));
    const st = (await crisp.runtime.containerStatus({ containerId })).status!;
    expect(st.imageRef).toContain('@sha256:');
    expect(st.image?.image).toBe(alias);
  });
});
