// Containers end to end: real containerd, runc, CNI, the busybox and nonroot test images. What the
// process saw is checked from its own output in the CRI log file.
import { cri } from '@crisp/api';
import { ContainerdClient } from '@crisp/containerd';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc';
import {
  containerConfig,
  eventually,
  grpcError,
  makeTempDir,
  podConfig,
  startCrispSuite,
} from '@crisp/e2e';
import type { CrispProcess, CrispSuite } from '@crisp/e2e';

jest.setTimeout(300_000);

const BRIDGE = 'crisp-e2e-br1';
const CRI_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z) (stdout|stderr) (F|P) (.*)$/;

interface LogRecord {
  stream: string;
  tag: string;
  text: string;
}

function readLog(file: string): LogRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const m = CRI_LINE.exec(l);
      if (!m) throw new Error(`not a CRI log line: ${JSON.stringify(l)}`);
      return { stream: m[3]!, tag: m[4]!, text: m[5]! };
    });
}

describe('containers', () => {
  let suite: CrispSuite;
  let crisp: CrispProcess;
  let client: ContainerdClient;
  let images: CrispSuite['images'];
  let logDir: string;
  let podId: string;
  let busybox: string;

  const status = async (id: string): Promise<cri.ContainerStatus> => (await crisp.runtime.containerStatus({ containerId: id, verbose: false })).status!;
  const waitExited = (id: string): Promise<cri.ContainerStatus> =>
    eventually(`container ${id} to exit`, async () => {
      const s = await status(id);
      return s.state === cri.ContainerState.CONTAINER_EXITED ? s : undefined;
    });
  /** Creates, starts and (by default) waits for the exit of a container; returns its id, status and log. */
  const run = async (name: string, command: string[], extra: Partial<cri.ContainerConfig> = {}, wait = true) => {
    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: podId, config: containerConfig(name, busybox, command, extra), sandboxConfig: podConfig('pod-c', { logDirectory: logDir }) });
    await crisp.runtime.startContainer({ containerId });
    const st = wait ? await waitExited(containerId) : await status(containerId);
    return { id: containerId, status: st, log: () => readLog(path.join(logDir, `${name}.log`)) };
  };

  beforeAll(async () => {
    logDir = makeTempDir('crisp-e2e-logs-');
    suite = await startCrispSuite({
      fixtures: ['nonroot'],
      pull: ['busybox', 'nonroot'],
      network: { name: 'crisp-e2e-c', bridge: BRIDGE, subnet: '10.231.11.0/24' },
      containerdClient: true,
      pod: podConfig('pod-c', { logDirectory: logDir }),
    });
    ({ crisp, images, busybox, podId } = suite);
    client = suite.client!;
  });

  afterAll(() => suite?.stop());

  it('runs a command to its exit code, with both streams in the CRI log', async () => {
    const c = await run('exit3', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(c.status).toMatchObject({ state: cri.ContainerState.CONTAINER_EXITED, exitCode: 3, reason: 'Error' });
    expect(c.status.startedAt).toBeGreaterThan(0n);
    expect(c.status.finishedAt).toBeGreaterThanOrEqual(c.status.startedAt);
    expect(c.status.imageRef).toContain('@sha256:');
    expect(c.status.imageId).toBe(images.busybox.imageId);
    const log = c.log();
    expect(log).toEqual(expect.arrayContaining([{ stream: 'stdout', tag: 'F', text: 'out' }, { stream: 'stderr', tag: 'F', text: 'err' }]));
    const ok = await run('exit0', ['true']);
    expect(ok.status).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('passes env, args, working dir and users as the process sees them', async () => {
    const c = await run('env', ['sh', '-c'], {
      args: ['echo "$GREETING $0 $(pwd) $(id -u):$(id -g) $(id -G)"', 'arg0'],
      envs: [{ key: 'GREETING', value: Buffer.from('hello') }],
      workingDir: '/tmp',
      linux: { securityContext: { runAsUser: { value: 1000n }, runAsGroup: { value: 1000n }, supplementalGroups: [2000n] } } as never,
    });
    expect(c.log()[0]?.text).toBe('hello arg0 /tmp 1000:1000 1000 2000');
    expect(c.status.user?.linux).toMatchObject({ uid: 1000n, gid: 1000n });

    const named = await run('username', ['id'], { linux: { securityContext: { runAsUsername: 'app' } } as never });
    expect(named.log()[0]?.text).toMatch(/^uid=1000\(app\) gid=1000\(app\) groups=1000\(app\),2000\(extra\)/);

    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: podId, config: containerConfig('nonroot', images.nonroot.reference, []) });
    await crisp.runtime.startContainer({ containerId });
    await waitExited(containerId);
    expect(readLog(path.join(logDir, 'nonroot.log'))[0]?.text).toMatch(/^uid=1000\(app\)/);
  });

  it('enforces read-only mounts and a read-only rootfs, and applies the memory limit', async () => {
    const hostDir = makeTempDir('crisp-e2e-mount-');
    writeFileSync(path.join(hostDir, 'data'), 'from host\n');
    const c = await run('ro', ['sh', '-c', 'cat /data/data; echo x > /data/new && echo WROTE || echo DENIED; echo y > /newfile && echo ROOTFS-WROTE || echo ROOTFS-DENIED; cat /sys/fs/cgroup/memory/memory.limit_in_bytes'], {
      mounts: [{ containerPath: '/data', hostPath: hostDir, readonly: true } as never],
      linux: { resources: { memoryLimitInBytes: 64n * 1024n * 1024n }, securityContext: { readonlyRootfs: true } } as never,
    });
    expect(c.log().filter((r) => r.stream === 'stdout').map((r) => r.text)).toEqual(['from host', 'DENIED', 'ROOTFS-DENIED', String(64 * 1024 * 1024)]);
    expect(c.log().filter((r) => r.stream === 'stderr').map((r) => r.text)).toEqual(["sh: can't create /data/new: Read-only file system", "sh: can't create /newfile: Read-only file system"]);
    expect(existsSync(path.join(hostDir, 'new'))).toBe(false);
  });

  it('kills a container that ignores SIGTERM after the stop timeout', async () => {
    const c = await run('stubborn', ['sh', '-c', "trap '' TERM; echo ready; while :; do sleep 1; done"], {}, false);
    await eventually('stubborn to be ready', async () => c.log().length > 0);
    const t0 = Date.now();
    await crisp.runtime.stopContainer({ containerId: c.id, timeout: 2n });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1900);
    const st = await status(c.id);
    expect(st.state).toBe(cri.ContainerState.CONTAINER_EXITED);
    expect(st.exitCode).toBe(137);
    await crisp.runtime.stopContainer({ containerId: c.id, timeout: 2n });
  });

  it('shares the pod network between containers', async () => {
    const server = await run('server', ['sh', '-c', 'mkdir -p /www && echo pod-local > /www/i && httpd -f -p 127.0.0.1:8080 -h /www'], {}, false);
    const client = await eventually('the server to answer', async () => {
      const c = await run(`client-${Date.now()}`, ['wget', '-qO-', 'http://127.0.0.1:8080/i']);
      return c.status.exitCode === 0 ? c : undefined;
    });
    expect(client.log()[0]?.text).toBe('pod-local');
    await crisp.runtime.stopContainer({ containerId: server.id, timeout: 0n });
  });

  it('reports OOMKilled for a container over its memory limit', async () => {
    const c = await run('oom', ['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'], {
      linux: { resources: { memoryLimitInBytes: 16n * 1024n * 1024n } } as never,
    });
    expect(c.status.reason).toBe('OOMKilled');
    expect(c.status.exitCode).toBe(137);
  });

  it('reopens the log after kubelet renamed it', async () => {
    const c = await run('rotate', ['sh', '-c', 'i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.2; done'], {}, false);
    const file = path.join(logDir, 'rotate.log');
    await eventually('first lines', async () => readLog(file).length >= 2);
    renameSync(file, `${file}.1`);
    await crisp.runtime.reopenContainerLog({ containerId: c.id });
    await eventually('lines in the new file', async () => readLog(file).length >= 2);
    const old = readLog(`${file}.1`).map((r) => r.text);
    const fresh = readLog(file).map((r) => r.text);
    expect(old.filter((l) => fresh.includes(l))).toEqual([]);
    await crisp.runtime.stopContainer({ containerId: c.id, timeout: 0n });
    expect((await grpcError(crisp.runtime.reopenContainerLog({ containerId: c.id }))).code).toBe(Status.FAILED_PRECONDITION);
  });

  it('updates a running container\'s memory limit, and the pod\'s limits', async () => {
    const c = await run('resize', ['sh', '-c', 'while :; do sleep 1; done'], { linux: { resources: { memoryLimitInBytes: 64n * 1024n * 1024n } } as never }, false);
    await crisp.runtime.updateContainerResources({ containerId: c.id, linux: cri.LinuxContainerResources.fromPartial({ memoryLimitInBytes: 96n * 1024n * 1024n }) });
    const pid = (JSON.parse((await crisp.runtime.containerStatus({ containerId: c.id, verbose: true })).info['info']!) as { pid: number }).pid;
    const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))!.split(':')[2]!;
    expect(readFileSync(`/sys/fs/cgroup/memory${cgroup}/memory.limit_in_bytes`, 'utf8').trim()).toBe(String(96 * 1024 * 1024));
    expect((await status(c.id)).resources?.linux?.memoryLimitInBytes).toBe(96n * 1024n * 1024n);
    expect(
      (await grpcError(crisp.runtime.updateContainerResources({ containerId: c.id, linux: cri.LinuxContainerResources.fromPartial({ cpuQuota: 50000n }) }))).code,
    ).toBe(Status.INVALID_ARGUMENT);
    await crisp.runtime.updatePodSandboxResources({ podSandboxId: podId, resources: cri.LinuxContainerResources.fromPartial({ memoryLimitInBytes: 512n * 1024n * 1024n }) });
    await crisp.runtime.stopContainer({ containerId: c.id, timeout: 0n });
  });

  it('shares /dev/shm between the containers of a pod', async () => {
    const writer = await run('shm-writer', ['sh', '-c', 'echo shared > /dev/shm/token; sleep 1000'], {}, false);
    const reader = await eventually('the token in /dev/shm', async () => {
      const c = await run(`shm-reader-${Date.now()}`, ['cat', '/dev/shm/token']);
      return c.status.exitCode === 0 ? c : undefined;
    });
    expect(reader.log()[0]?.text).toBe('shared');
    await crisp.runtime.stopContainer({ containerId: writer.id, timeout: 0n });
  });

  it('answers a retried CreateContainer with the same id', async () => {
    const cfg = containerConfig('retried', busybox, ['true']);
    const first = await crisp.runtime.createContainer({ podSandboxId: podId, config: cfg }, { signal: AbortSignal.timeout(5) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    void first;
    const [a, b] = await Promise.all([crisp.runtime.createContainer({ podSandboxId: podId, config: cfg }), crisp.runtime.createContainer({ podSandboxId: podId, config: cfg })]);
    expect(a.containerId).toBe(b.containerId);
    const named = (await crisp.runtime.listContainers({ filter: { id: '', labelSelector: { container: 'retried' } } })).containers;
    expect(named.map((c) => c.id)).toEqual([a.containerId]);
  });

  it('streams container events to GetContainerEvents subscribers', async () => {
    const abort = new AbortController();
    const seen: { id: string; type: cri.ContainerEventType; pod?: string; statuses: number }[] = [];
    const reading = (async () => {
      for await (const ev of crisp.runtime.getContainerEvents({}, { signal: abort.signal })) {
        seen.push({ id: ev.containerId, type: ev.containerEventType, pod: ev.podSandboxStatus?.id, statuses: ev.containersStatuses.length });
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const c = await run('evented', ['true']);
    await crisp.runtime.removeContainer({ containerId: c.id });
    await eventually('the DELETED event', async () => seen.some((e) => e.id === c.id && e.type === cri.ContainerEventType.CONTAINER_DELETED_EVENT));
    abort.abort();
    await reading;
    const mine = seen.filter((e) => e.id === c.id);
    expect(mine.map((e) => e.type)).toEqual([
      cri.ContainerEventType.CONTAINER_CREATED_EVENT,
      cri.ContainerEventType.CONTAINER_STARTED_EVENT,
      cri.ContainerEventType.CONTAINER_STOPPED_EVENT,
      cri.ContainerEventType.CONTAINER_DELETED_EVENT,
    ]);
    expect(mine.filter((e) => !(e.pod === podId && e.statuses > 0))).toEqual([]);
  });

  it('lists with filters', async () => {
    const all = (await crisp.runtime.listContainers({})).containers;
    expect(all.length).toBeGreaterThan(5);
    const exit3 = all.find((c) => c.metadata?.name === 'exit3')!;
    expect((await crisp.runtime.listContainers({ filter: { id: exit3.id.slice(0, 10), labelSelector: {} } })).containers.map((c) => c.id)).toEqual([exit3.id]);
    expect((await crisp.runtime.listContainers({ filter: { id: '', labelSelector: { container: 'exit3' } } })).containers.map((c) => c.id)).toEqual([exit3.id]);
    const exited = (await crisp.runtime.listContainers({ filter: { id: '', podSandboxId: podId, state: { state: cri.ContainerState.CONTAINER_EXITED }, labelSelector: {} } })).containers;
    expect(exited.map((c) => c.id)).toContain(exit3.id);
    const streamed: string[] = [];
    for await (const m of crisp.runtime.streamContainers({})) streamed.push(...m.containers.map((c) => c.id));
    expect(streamed.sort()).toEqual(all.map((c) => c.id).sort());
  });

  it('keeps containers and exit codes across a crisp restart, including an exit while crisp was down', async () => {
    const c = await run('while-down', ['sh', '-c', 'sleep 3; exit 7'], {}, false);
    const done = await run('before-down', ['sh', '-c', 'exit 5']);
    await crisp.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 4000));
    await crisp.restart();
    const st = await waitExited(c.id);
    expect(st).toMatchObject({ exitCode: 7, reason: 'Error' });
    expect((await status(done.id)).exitCode).toBe(5);
  });

  it('rejects bad input precisely and leaves nothing behind', async () => {
    const countSnapshots = async (): Promise<number> => {
      let n = 0;
      for await (const page of client.snapshots.list({ snapshotter: 'overlayfs', filters: [] })) n += page.info.length;
      return n;
    };
    const snapshotsBefore = await countSnapshots();
    const before = (await client.containers.list({ filters: [] })).containers.length;
    const create = (config: cri.ContainerConfig, sandbox = podId) => grpcError(crisp.runtime.createContainer({ podSandboxId: sandbox, config }));
    expect((await create(containerConfig('x', busybox, ['true']), 'f'.repeat(64))).code).toBe(Status.NOT_FOUND);
    expect((await create(containerConfig('x', `${suite.registry.host}/crisp-test/absent:1`, ['true']))).code).toBe(Status.NOT_FOUND);
    expect((await create(containerConfig('exit3', busybox, ['false']))).code).toBe(Status.ALREADY_EXISTS);
    expect((await create(containerConfig('relmount', busybox, ['true'], { mounts: [{ containerPath: 'data', hostPath: '/tmp' } as never] }))).code).toBe(Status.INVALID_ARGUMENT);
    const seccomp = await create(
      containerConfig('seccomp', busybox, ['true'], { linux: { securityContext: { seccomp: { profileType: cri.SecurityProfile_ProfileType.Localhost, localhostRef: '/nonexistent/profile.json' } } } as never }),
    );
    expect(seccomp.code).toBe(Status.NOT_FOUND);
    expect((await create(cri.ContainerConfig.fromPartial({ image: { image: busybox } }))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(crisp.runtime.containerStatus({ containerId: 'f'.repeat(64), verbose: false }))).code).toBe(Status.NOT_FOUND);
    expect((await grpcError(crisp.runtime.startContainer({ containerId: 'f'.repeat(64) }))).code).toBe(Status.NOT_FOUND);
    await crisp.runtime.stopContainer({ containerId: 'f'.repeat(64), timeout: 0n });
    await crisp.runtime.removeContainer({ containerId: 'f'.repeat(64) });
    expect((await client.containers.list({ filters: [] })).containers.length).toBe(before);
    expect(await countSnapshots()).toBe(snapshotsBefore);
  });

  it('removes containers with their snapshot but keeps the log; the pod takes its containers with it', async () => {
    const c = await run('removed', ['sh', '-c', 'echo bye']);
    await crisp.runtime.removeContainer({ containerId: c.id });
    expect((await grpcError(crisp.runtime.containerStatus({ containerId: c.id, verbose: false }))).code).toBe(Status.NOT_FOUND);
    await expect(client.snapshots.stat({ snapshotter: 'overlayfs', key: c.id })).rejects.toMatchObject({ code: 'not-found' });
    expect(readLog(path.join(logDir, 'removed.log'))[0]?.text).toBe('bye');
    await crisp.runtime.removeContainer({ containerId: c.id });

    const running = await run('left-running', ['sleep', '1000'], {}, false);
    await crisp.runtime.stopPodSandbox({ podSandboxId: podId });
    expect((await status(running.id)).state).toBe(cri.ContainerState.CONTAINER_EXITED);
    await crisp.runtime.removePodSandbox({ podSandboxId: podId });
    expect((await crisp.runtime.listContainers({})).containers).toEqual([]);
    expect((await client.containers.list({ filters: [] })).containers).toEqual([]);
    mkdirSync(logDir, { recursive: true });
  });
});
