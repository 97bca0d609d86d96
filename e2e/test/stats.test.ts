// Container and pod stats end to end: real containerd (cgroups of this machine), runc, CNI on a test
// bridge with its own subnet. Network traffic goes only to a pod address in that subnet.
import { cri } from '@crisp/api';
import { ContainerdClient, typeNameOf } from '@crisp/containerd';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Status } from 'nice-grpc';
import { containerConfig, eventually, grpcError, makeTempDir, podConfig, startCrispSuite } from '@crisp/e2e';
import type { CrispProcess, CrispSuite } from '@crisp/e2e';

jest.setTimeout(120_000);

const BRIDGE = 'crisp-e2e-br3';
const SUBNET = '10.231.13.0/24';
const MiB = 1024n * 1024n;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends `bytes` to host:port over TCP and waits until the peer, having read them all, closes. */
function send(host: string, port: number, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, timeout: 5000 });
    s.on('connect', () => s.end(Buffer.alloc(bytes, 0x61)));
    s.resume();
    s.on('close', (hadError) => (hadError ? reject(new Error('connection failed')) : resolve()));
    s.on('timeout', () => s.destroy(new Error(`timeout talking to ${host}:${port}`)));
    s.on('error', reject);
  });
}

describe('stats', () => {
  let suite: CrispSuite;
  let crisp: CrispProcess;
  let client: ContainerdClient;
  let busybox: string;
  let podId: string;
  let podIp: string;
  let triggerDir: string;

  const run = async (pod: string, name: string, command: string[], extra: Partial<cri.ContainerConfig> = {}): Promise<string> => {
    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: pod, config: containerConfig(name, busybox, command, extra), sandboxConfig: podConfig('stats') });
    await crisp.runtime.startContainer({ containerId });
    return containerId;
  };
  const stats = async (id: string): Promise<cri.ContainerStats> => (await crisp.runtime.containerStats({ containerId: id })).stats!;

  beforeAll(async () => {
    suite = await startCrispSuite({ network: { name: 'crisp-e2e-st', bridge: BRIDGE, subnet: SUBNET }, containerdClient: true, pod: podConfig('stats') });
    ({ crisp, busybox, podId, podIp } = suite);
    client = suite.client!;
    expect(podIp.startsWith('10.231.13.')).toBe(true);
    triggerDir = makeTempDir('crisp-e2e-st-trigger-');
  });

  afterAll(() => suite?.stop());

  it('decodes the cgroup metrics type containerd sends on this machine', async () => {
    const id = await run(podId, 'idle', ['sleep', '1000']);
    const { metrics } = await client.tasks.metrics({ filters: [`id==${id}`] });
    const containerdMajorMinor = (await client.version.version({})).version.replace(/^v/, '').split('.').slice(0, 2).join('.');
    expect(metrics.map((m) => m.id)).toEqual([id]);
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const want = v2 ? 'io.containerd.cgroups.v2.Metrics' : 'io.containerd.cgroups.v1.Metrics';
    expect(typeNameOf(metrics[0]!.data!.typeUrl)).toBe(want);
    // containerd 1.6 (typeurl v1 over gogo types) sends the bare message name, no prefix.
    if (containerdMajorMinor === '1.6') expect(metrics[0]!.data!.typeUrl).toBe(want);
    const s = await stats(id);
    expect(s.attributes).toMatchObject({ id, metadata: { name: 'idle' }, labels: { container: 'idle' } });
    expect(s.cpu?.timestamp).toBeGreaterThan(0n);
    expect(s.memory?.workingSetBytes?.value).toBeGreaterThan(0n);
    expect(s.writableLayer?.fsId?.mountpoint).toContain('io.containerd.snapshotter.v1.');
  });

  it('shows a busy container using about one core, with growing cpu usage', async () => {
    const id = await run(podId, 'spin', ['sh', '-c', 'while :; do :; done']);
    try {
      await sleep(1000);
      const first = await stats(id);
      await sleep(3000);
      const [second] = (await crisp.runtime.listContainerStats({ filter: { id, podSandboxId: '', labelSelector: {} } })).stats;
      expect(second?.attributes?.id).toBe(id);
      const u1 = first.cpu!.usageCoreNanoSeconds!.value;
      const u2 = second!.cpu!.usageCoreNanoSeconds!.value;
      expect(u2).toBeGreaterThan(u1 + 1_000_000_000n);
      const cores = second!.cpu!.usageNanoCores!.value;
      expect(cores).toBeGreaterThan(500_000_000n);
      expect(cores).toBeLessThan(1_200_000_000n);
    } finally {
      await crisp.runtime.removeContainer({ containerId: id });
    }
  });

  it('shows a container holding 64 MiB with a working set of at least 64 MiB', async () => {
    // The shell keeps the 64 MiB string; the loop keeps the shell (a last command would be exec'd).
    const id = await run(podId, 'mem', ['sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\0" a); while :; do sleep 1000; done']);
    try {
      const s = await eventually('a working set of 64 MiB', async () => {
        const st = await stats(id);
        return (st.memory?.workingSetBytes?.value ?? 0n) >= 64n * MiB ? st : undefined;
      }, 30_000);
      expect(s.memory!.usageBytes!.value).toBeGreaterThanOrEqual(s.memory!.workingSetBytes!.value);
      expect(s.memory!.rssBytes!.value).toBeGreaterThan(48n * MiB);
      // Still resident a moment later.
      await sleep(1000);
      expect((await stats(id)).memory!.workingSetBytes!.value).toBeGreaterThanOrEqual(64n * MiB);
    } finally {
      await crisp.runtime.removeContainer({ containerId: id });
    }
  });

  it('counts the bytes a pod receives on its interface', async () => {
    const info = JSON.parse((await crisp.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info['info']!) as { netnsPath: string };
    // A TCP sink in the pod's network namespace that reads everything, then closes.
    const sink = spawn('nsenter', [`--net=${info.netnsPath}`, process.execPath, '-e', "require('net').createServer(s=>{s.resume();s.on('end',()=>s.end())}).listen(8080,()=>process.stdout.write('listening'))"], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        sink.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
        sink.once('exit', (code) => reject(new Error(`sink exited ${code}`)));
      });
      const rx = async (): Promise<bigint> => {
        const st = (await crisp.runtime.podSandboxStats({ podSandboxId: podId })).stats!;
        expect(st.linux?.network?.defaultInterface?.name).toBe('eth0');
        return st.linux!.network!.defaultInterface!.rxBytes!.value;
      };
      const before = await rx();
      await send(podIp, 8080, 4 * 1024 * 1024);
      const after = await rx();
      expect(after - before).toBeGreaterThanOrEqual(4n * MiB);
    } finally {
      sink.kill('SIGKILL');
    }
  });

  it('shows the writable layer grow after the container writes 10 MiB', async () => {
    const id = await run(podId, 'writer', ['sh', '-c', 'while [ ! -e /trigger/go ]; do sleep 0.2; done; dd if=/dev/zero of=/big bs=1048576 count=10; sleep 1000'], {
      mounts: [{ containerPath: '/trigger', hostPath: triggerDir }] as never,
    });
    try {
      const before = (await eventually('a writable layer figure', async () => (await stats(id)).writableLayer)).usedBytes!.value;
      writeFileSync(path.join(triggerDir, 'go'), '');
      // Usage is cached for 10 s (kubelet's polling period): the new figure shows within that.
      const after = await eventually('the writable layer to grow by 10 MiB', async () => {
        const used = (await stats(id)).writableLayer!.usedBytes!.value;
        return used >= before + 10n * MiB ? used : undefined;
      }, 20_000);
      expect(after - before).toBeGreaterThanOrEqual(10n * MiB);
      expect((await stats(id)).writableLayer!.inodesUsed!.value).toBeGreaterThan(0n);
    } finally {
      await crisp.runtime.removeContainer({ containerId: id });
    }
  });

  it('filters container stats by pod, id and labels, and lists pods with their containers', async () => {
    const other = (await crisp.runtime.runPodSandbox({ config: podConfig('stats-other') })).podSandboxId;
    const a = await run(podId, 'a', ['sleep', '1000'], { labels: { container: 'a', role: 'x' } });
    const b = await run(other, 'b', ['sleep', '1000'], { labels: { container: 'b', role: 'x' } });
    const mine = (await crisp.runtime.listContainers({ filter: { id: '', podSandboxId: podId, labelSelector: {}, state: { state: cri.ContainerState.CONTAINER_RUNNING } } })).containers.map((c) => c.id);
    expect(mine).toContain(a);

    const byPod = (await crisp.runtime.listContainerStats({ filter: { id: '', podSandboxId: podId, labelSelector: {} } })).stats.map((s) => s.attributes!.id);
    expect(byPod.sort()).toEqual([...mine].sort());
    const byLabel = (await crisp.runtime.listContainerStats({ filter: { id: '', podSandboxId: '', labelSelector: { role: 'x' } } })).stats.map((s) => s.attributes!.id);
    expect(byLabel.sort()).toEqual([a, b].sort());
    const byPrefix = (await crisp.runtime.listContainerStats({ filter: { id: b.slice(0, 12), podSandboxId: '', labelSelector: {} } })).stats;
    expect(byPrefix.map((s) => s.attributes!.id)).toEqual([b]);

    const pods = (await crisp.runtime.listPodSandboxStats({})).stats;
    expect(pods.map((p) => p.attributes!.id).sort()).toEqual([podId, other].sort());
    const p = pods.find((x) => x.attributes!.id === podId)!;
    expect(p.linux!.containers.map((c) => c.attributes!.id).sort()).toEqual([...mine].sort());
    const sumCpu = p.linux!.containers.reduce((acc, c) => acc + c.cpu!.usageCoreNanoSeconds!.value, 0n);
    expect(p.linux!.cpu!.usageCoreNanoSeconds!.value).toBeGreaterThanOrEqual(sumCpu);
    expect(p.linux!.process!.processCount!.value).toBeGreaterThanOrEqual(BigInt(mine.length + 1));
    expect(p.linux!.memory!.workingSetBytes!.value).toBeGreaterThan(0n);
    const byLabelPods = (await crisp.runtime.listPodSandboxStats({ filter: { id: '', labelSelector: { app: 'stats-other' } } })).stats;
    expect(byLabelPods.map((x) => x.attributes!.id)).toEqual([other]);

    const streamed: string[] = [];
    for await (const r of crisp.runtime.streamContainerStats({ filter: { id: '', podSandboxId: podId, labelSelector: {} } })) streamed.push(...r.containerStats.map((s) => s.attributes!.id));
    expect(streamed.sort()).toEqual([...mine].sort());
    const streamedPods: string[] = [];
    for await (const r of crisp.runtime.streamPodSandboxStats({})) streamedPods.push(...r.podSandboxStats.map((s) => s.attributes!.id));
    expect(streamedPods.sort()).toEqual([podId, other].sort());

    await crisp.runtime.stopPodSandbox({ podSandboxId: other });
    await crisp.runtime.removePodSandbox({ podSandboxId: other });
  });

  it('answers NOT_FOUND for an unknown container or pod', async () => {
    expect((await grpcError(crisp.runtime.containerStats({ containerId: 'nope' }))).code).toBe(Status.NOT_FOUND);
    expect((await grpcError(crisp.runtime.podSandboxStats({ podSandboxId: 'nope' }))).code).toBe(Status.NOT_FOUND);
  });

  it('serves cAdvisor metrics for kubelet', async () => {
    const id = await run(podId, 'metrics', ['sleep', '1000']);
    const { descriptors } = await crisp.runtime.listMetricDescriptors({});
    const keys = new Map(descriptors.map((d) => [d.name, d.labelKeys]));
    for (const n of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes', 'container_network_receive_bytes_total', 'container_fs_usage_bytes']) {
      expect(keys.has(n)).toBe(true);
    }
    const { podMetrics } = await crisp.runtime.listPodSandboxMetrics({});
    const pod = podMetrics.find((p) => p.podSandboxId === podId)!;
    const all = [...pod.metrics, ...pod.containerMetrics.flatMap((c) => c.metrics)];
    for (const m of all) expect(m.labelValues).toHaveLength(keys.get(m.name)!.length);
    const rx = pod.metrics.find((m) => m.name === 'container_network_receive_bytes_total' && m.labelValues.at(-1) === 'eth0');
    expect(rx?.value?.value).toBeGreaterThan(0n);
    const mine = pod.containerMetrics.find((c) => c.containerId === id)!;
    const ws = mine.metrics.find((m) => m.name === 'container_memory_working_set_bytes')!;
    expect(ws.labelValues).toEqual([id, 'metrics', busybox]);
    expect(ws.value!.value).toBeGreaterThan(0n);
    const streamed: string[] = [];
    for await (const r of crisp.runtime.streamPodSandboxMetrics({})) streamed.push(...r.podSandboxMetrics.map((p) => p.podSandboxId));
    expect(streamed).toContain(podId);
  });
});
