// The Prometheus endpoints end to end, both ways the exporter runs: embedded in `crisp serve`
// ([metrics] address) and as the standalone crisp-metrics-exporter child process reading the same
// containerd. Values are read from /metrics parsed as the Prometheus text format. Network traffic
// goes only to a pod address on the test bridge (10.233.5.0/24) and to loopback.
import { cri } from '@crisp/api';
import { ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { Status } from 'nice-grpc';
import { containerConfig, criClient, eventually, freePort, grpcError, killOnExit, makeTempDir, makeTestNetwork, podConfig, pushFixtures, startCrispSuite, startRegistry, startTestContainerd, waitChildExit } from '@crisp/e2e';
import type { CriClients, CrispProcess, CrispSuite, TestContainerd, TestRegistry } from '@crisp/e2e';
import { MetricsPage, scrapeMetrics } from '../src/metrics-scrape';

jest.setTimeout(120_000);

const SUBNET = '10.233.5.0/24';
const MiB = 1024 * 1024;
const POD = 'mx';
const EXPORTER_CLI = path.resolve(__dirname, '../../packages/metrics-exporter/dist/cli.js');

/** Writes `bytes` to a TCP sink at host:port, then waits for the sink (having read them) to close. */
async function pushBytes(host: string, port: number, bytes: number): Promise<void> {
  const socket = net.connect({ host, port });
  socket.setTimeout(5000, () => socket.destroy(new Error(`no progress talking to ${host}:${port}`)));
  await once(socket, 'connect');
  socket.resume();
  socket.end(Buffer.alloc(bytes, 0x6d));
  await once(socket, 'close');
}

/** A TCP server on `port` in the network namespace at `netns` that reads everything, then closes. */
async function tcpSinkIn(netns: string, port: number): Promise<ChildProcess> {
  const program = `require('net').createServer((c) => c.on('end', () => c.end()).resume()).listen(${port}, () => process.stdout.write('up'))`;
  const child = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
  killOnExit(child);
  const exited = once(child, 'exit').then(([code]) => Promise.reject(new Error(`TCP sink exited (${String(code)}) before listening`)));
  await Promise.race([once(child.stdout!, 'data'), exited]);
  exited.catch(() => undefined);
  return child;
}

/** Runs the standalone exporter against `containerdAddress` (namespace k8s.io); resolves once /healthz answers. */
async function startExporter(containerdAddress: string, containerdRoot: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [EXPORTER_CLI, '--listen', `127.0.0.1:${port}`, '--containerd-address', containerdAddress, '--namespace', 'k8s.io', '--containerd-root', containerdRoot, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  killOnExit(child);
  await eventually('the standalone exporter to answer /healthz', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok);
  return child;
}

async function stopExporter(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  await waitChildExit(child, 10_000);
}

/** Runs every clean-up step in order, whatever the steps before did. */
async function cleanUp(...steps: (() => Promise<unknown>)[]): Promise<void> {
  for (const step of steps) await step().catch(() => undefined);
}

async function removePod(rt: CriClients['runtime'] | undefined, podSandboxId: string | undefined): Promise<void> {
  if (!rt || !podSandboxId) return;
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
}

describe('metrics exporter', () => {
  let suite: CrispSuite;
  let crisp: CrispProcess;
  let exporter: ChildProcess;
  let busybox: string;
  let podId: string;
  let podIp: string;
  let triggerDir: string;
  const endpoints: { name: string; url: string }[] = [];

  const run = async (name: string, command: string[], extra: Partial<cri.ContainerConfig> = {}): Promise<string> => {
    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: podId, config: containerConfig(name, busybox, command, extra), sandboxConfig: podConfig(POD) });
    await crisp.runtime.startContainer({ containerId });
    return containerId;
  };
  /** The labels kubelet's /metrics/cadvisor gives a container of the test pod. */
  const containerLabels = (id: string, container: string): Record<string, string> => ({ name: id, container, pod: POD, namespace: 'e2e' });
  const value = (page: MetricsPage, metric: string, labels: Record<string, string>): number | undefined => page.value(metric, labels);
  /** Waits on every endpoint until `check` holds for its page. */
  const onEvery = async <T>(what: string, check: (page: MetricsPage, endpoint: number) => T | undefined, timeoutMs = 20_000): Promise<T[]> => {
    const out: T[] = [];
    for (const [i, e] of endpoints.entries()) out.push(await eventually(`${what} (${e.name})`, async () => check(await scrapeMetrics(e.url), i), timeoutMs));
    return out;
  };

  beforeAll(async () => {
    const [embeddedPort, standalonePort] = [await freePort(), await freePort()];
    const root = (containerd: { dir: string }): string => path.join(containerd.dir, 'root');
    suite = await startCrispSuite({
      network: { name: 'crisp-e2e-mx', bridge: 'crisp-e2e-brmx', subnet: SUBNET },
      config: (containerd) => `\n[containerd]\nroot = "${root(containerd)}"\n\n[metrics]\naddress = "127.0.0.1:${embeddedPort}"\n`,
      pod: podConfig(POD),
    });
    ({ crisp, busybox, podId, podIp } = suite);
    exporter = await startExporter(suite.containerd.address, root(suite.containerd), standalonePort);
    endpoints.push({ name: 'embedded', url: `http://127.0.0.1:${embeddedPort}/metrics` }, { name: 'standalone', url: `http://127.0.0.1:${standalonePort}/metrics` });
    expect(podIp.startsWith('10.233.5.')).toBe(true);
    triggerDir = makeTempDir('crisp-e2e-mx-trigger-');
  });

  // The exporter first; suite.stop() removes the pod before stopping crisp (its /dev/shm would keep the state directory busy).
  afterAll(() => cleanUp(() => stopExporter(exporter), () => suite?.stop()));

  it('labels a container as kubelet does, with cAdvisor units', async () => {
    const id = await run('idle', ['sleep', '1000']);
    try {
      for (const page of await onEvery('the idle container', (p) => (p.value('container_memory_working_set_bytes', { name: id }) !== undefined ? p : undefined))) {
        const [ws] = page.samples('container_memory_working_set_bytes', { name: id });
        expect(ws!.labels).toMatchObject(containerLabels(id, 'idle'));
        expect(ws!.labels['image']).toContain('busybox');
        // cAdvisor's id is the cgroup, which ends with the container id for both cgroup drivers' names.
        expect(ws!.labels['id']).toMatch(new RegExp(`${id}(\\.scope)?$`));
        expect(page.family('container_cpu_usage_seconds_total')?.type).toBe('COUNTER');
        expect(page.family('container_memory_working_set_bytes')?.type).toBe('GAUGE');
        expect(value(page, 'container_processes', { name: id })).toBeGreaterThanOrEqual(1);
        const start = value(page, 'container_start_time_seconds', { name: id })!;
        expect(Math.abs(start - Date.now() / 1000)).toBeLessThan(600);
        expect(value(page, 'container_last_seen', { name: id })).toBeGreaterThanOrEqual(start);
        // The sandbox: container "" (no io.kubernetes.container.name), the pause image.
        const pause = page.samples('container_memory_working_set_bytes', { name: podId });
        expect(pause.map((s) => s.labels)).toEqual([expect.objectContaining({ container: '', pod: POD, namespace: 'e2e' })]);
      }
    } finally {
      await crisp.runtime.removeContainer({ containerId: id });
    }
  });

  it('shows a busy container\'s cpu counter grow', async () => {
    const id = await run('spin', ['sh', '-c', 'while :; do :; done']);
    try {
      const first = await onEvery('a cpu figure', (p) => value(p, 'container_cpu_usage_seconds_total', containerLabels(id, 'spin')));
      const later = await onEvery('the cpu counter to grow by a second', (p, i) => {
        const v = value(p, 'container_cpu_usage_seconds_total', containerLabels(id, 'spin'));
        return v !== undefined && v >= first[i]! + 1 ? v : undefined;
      });
      const page = await scrapeMetrics(endpoints[0]!.url);
      const user = value(page, 'container_cpu_user_seconds_total', { name: id })!;
      const system = value(page, 'container_cpu_system_seconds_total', { name: id })!;
      expect(user + system).toBeGreaterThan(0.5);
      for (const [i, v] of later.entries()) expect(v).toBeGreaterThanOrEqual(first[i]! + 1);
    } finally {
      await crisp.runtime.removeContainer({ containerId: id });
    }
  });

  it('shows a container holding 64 MiB with a working set of at least 64 MiB', async () => {
    const id = await run('mem', ['sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\0" a); while :; do sleep 1000; done']);
    try {
      const ws = await onEvery('a working set of 64 MiB', (p) => {
        const v = value(p, 'container_memory_working_set_bytes', containerLabels(id, 'mem'));
        return v !== undefined && v >= 64 * MiB ? v : undefined;
      }, 30_000);
      for (const v of ws) expect(v).toBeGreaterThanOrEqual(64 * MiB);
      const page = await scrapeMetrics(endpoints[0]!.url);
      expect(value(page, 'container_memory_usage_bytes', { name: id })).toBeGreaterThanOrEqual(value(page, 'container_memory_working_set_bytes', { name: id })!);
      expect(value(page, 'container_memory_rss', { name: id })).toBeGreaterThan(48 * MiB);
    } finally {
      await crisp.runtime.removeContainer({ containerId: id });
    }
  });

  it('counts the bytes the pod receives on eth0, on the sandbox\'s series', async () => {
    const info = JSON.parse((await crisp.runtime.podSandboxStatus({ podSandboxId: podId, verbose: true })).info['info']!) as { netnsPath: string };
    const sink = await tcpSinkIn(info.netnsPath, 8080);
    try {
      const rx = { name: podId, container: '', pod: POD, namespace: 'e2e', interface: 'eth0' };
      const before = await onEvery('rx bytes of eth0', (p) => value(p, 'container_network_receive_bytes_total', rx));
      await pushBytes(podIp, 8080, 4 * MiB);
      const after = await onEvery('rx bytes to grow by 4 MiB', (p, i) => {
        const v = value(p, 'container_network_receive_bytes_total', rx);
        return v !== undefined && v >= before[i]! + 4 * MiB ? v : undefined;
      });
      for (const [i, v] of after.entries()) expect(v - before[i]!).toBeGreaterThanOrEqual(4 * MiB);
      // Counted once per pod: the pod's containers carry no network series of their own.
      const page = await scrapeMetrics(endpoints[0]!.url);
      expect(page.samples('container_network_receive_bytes_total', { pod: POD }).every((s) => s.labels['name'] === podId)).toBe(true);
    } finally {
      sink.kill('SIGKILL');
    }
  });

  it('shows the writable layer grow after the container writes 10 MiB', async () => {
    const id = await run('writer', ['sh', '-c', 'while [ ! -e /trigger/go ]; do sleep 0.2; done; dd if=/dev/zero of=/big bs=1048576 count=10; sleep 1000'], {
      mounts: [{ containerPath: '/trigger', hostPath: triggerDir }] as never,
    });
    try {
      const labels = containerLabels(id, 'writer');
      const before = await onEvery('a writable layer figure', (p) => value(p, 'container_fs_usage_bytes', labels));
      writeFileSync(path.join(triggerDir, 'go'), '');
      // Usage is cached for 10 s: the new figure shows within that.
      const after = await onEvery('the writable layer to grow by 10 MiB', (p, i) => {
        const v = value(p, 'container_fs_usage_bytes', labels);
        return v !== undefined && v >= before[i]! + 10 * MiB ? v : undefined;
      }, 30_000);
      for (const [i, v] of after.entries()) expect(v - before[i]!).toBeGreaterThanOrEqual(10 * MiB);
      const [fs] = (await scrapeMetrics(endpoints[1]!.url)).samples('container_fs_usage_bytes', { name: id });
      expect(fs!.labels['device']).not.toBe('');
    } finally {
      await crisp.runtime.removeContainer({ containerId: id });
    }
  });

  it('drops the series of a removed container at the next scrape', async () => {
    const id = await run('gone', ['sleep', '1000']);
    await onEvery('the container\'s series', (p) => value(p, 'container_cpu_usage_seconds_total', { name: id }) !== undefined || undefined);
    await crisp.runtime.stopContainer({ containerId: id, timeout: 0 });
    await crisp.runtime.removeContainer({ containerId: id });
    for (const e of endpoints) {
      const page = await scrapeMetrics(e.url);
      const left = page.families.filter((f) => f.metrics.some((m) => m.labels?.['name'] === id)).map((f) => f.name);
      expect({ endpoint: e.name, left }).toEqual({ endpoint: e.name, left: [] });
    }
  });

  it('handles the start and exit events of its own pods and containers without reading them back', async () => {
    // The histogram's _count lines, summed over codes (the text parser drops labelled histograms' labels).
    const gets = async (): Promise<number> => {
      const text = await (await fetch(endpoints[0]!.url)).text();
      let n = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith('crisp_containerd_request_duration_seconds_count{')) continue;
        if (line.includes('service="Containers"') && line.includes('method="Get"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return n;
    };
    const before = await gets();
    const pod = 'calls';
    const { podSandboxId } = await crisp.runtime.runPodSandbox({ config: podConfig(pod) });
    try {
      const { containerId } = await crisp.runtime.createContainer({ podSandboxId, config: containerConfig('c', busybox, ['sleep', '1000']), sandboxConfig: podConfig(pod) });
      await crisp.runtime.startContainer({ containerId });
      await crisp.runtime.stopContainer({ containerId, timeout: 0 });
      await crisp.runtime.removeContainer({ containerId });
      await crisp.runtime.stopPodSandbox({ podSandboxId });
      // The pause task's exit recorded by the monitor (its start event was handled before: one queue per container).
      await eventually('the pause exit recorded', async () => (await crisp.logs()).split('\n').some((l) => l.includes(podSandboxId) && l.includes('"container exited"')));
      expect(await gets()).toBe(before);
    } finally {
      await removePod(crisp.runtime, podSandboxId);
    }
  });

  it('counts crisp\'s own CRI calls by method and code', async () => {
    const url = endpoints[0]!.url;
    const count = async (method: string, code: string): Promise<number> => (await scrapeMetrics(url)).value('crisp_cri_requests_total', { method, code }) ?? 0;
    const notFound = await count('ContainerStatus', 'NOT_FOUND');
    const ok = await count('Version', 'OK');
    for (let i = 0; i < 3; i++) expect((await grpcError(crisp.runtime.containerStatus({ containerId: 'no-such-container', verbose: false }))).code).toBe(Status.NOT_FOUND);
    await crisp.runtime.version({ version: '' });
    expect(await count('ContainerStatus', 'NOT_FOUND')).toBe(notFound + 3);
    expect(await count('Version', 'OK')).toBe(ok + 1);
    const page = await scrapeMetrics(url);
    expect(page.family('crisp_cri_request_duration_seconds')?.type).toBe('HISTOGRAM');
    expect(page.value('crisp_pod_sandboxes', { state: 'ready' })).toBe(1);
    expect(page.family('crisp_containerd_request_duration_seconds')?.metrics.length).toBeGreaterThan(0);
    expect(page.value('crisp_image_pull_bytes_total')).toBeGreaterThan(0);
    // The pod's CNI ADD was timed. (parse-prometheus-text-format 1.1 drops a histogram's labels and
    // count when it has labels: its +Inf bucket, the count, is what is left.)
    const cni = page.family('crisp_cni_operation_duration_seconds')?.metrics ?? [];
    expect(cni.some((m) => 'buckets' in m && Number(m.buckets['+Inf']) >= 1)).toBe(true);
    expect(page.value('crisp_event_stream_reconnects_total')).toBe(0);
    expect(page.family('process_cpu_seconds_total')).toBeDefined();
  });
});

describe('the standalone exporter on containers of containerd\'s own CRI plugin', () => {
  let containerd: TestContainerd;
  let registry: TestRegistry;
  let peer: CriClients;
  let exporter: ChildProcess;
  let url: string;
  let podId = '';

  beforeAll(async () => {
    registry = await startRegistry();
    const images = await pushFixtures(registry, ['busybox', 'pause']);
    const network = makeTestNetwork({ name: 'crisp-e2e-my', bridge: 'crisp-e2e-brmy', subnet: '10.233.6.0/24' });
    containerd = await startTestContainerd({
      enableCri: true,
      criConfig: { cniBinDir: '/usr/lib/cni', cniConfDir: network.confDir, sandboxImage: images.pause.reference, insecureRegistries: [registry.host] },
    });
    peer = criClient(containerd.address);
    const port = await freePort();
    exporter = await startExporter(containerd.address, path.join(containerd.dir, 'root'), port);
    url = `http://127.0.0.1:${port}/metrics`;
    await peer.images.pullImage({ image: { image: images.busybox.reference } });
    // The labels kubelet puts on every sandbox and container; containerd's CRI plugin keeps them as
    // containerd labels.
    const podLabels = { 'io.kubernetes.pod.name': 'cri-mx', 'io.kubernetes.pod.namespace': 'e2e', 'io.kubernetes.pod.uid': 'uid-cri-mx' };
    const sandboxConfig = podConfig('cri-mx', { labels: podLabels });
    podId = (await peer.runtime.runPodSandbox({ config: sandboxConfig })).podSandboxId;
    const config = containerConfig('app', images.busybox.reference, ['sleep', '1000'], { labels: { ...podLabels, 'io.kubernetes.container.name': 'app' } });
    const { containerId } = await peer.runtime.createContainer({ podSandboxId: podId, config, sandboxConfig });
    await peer.runtime.startContainer({ containerId });
  });

  afterAll(() => cleanUp(() => stopExporter(exporter), () => removePod(peer?.runtime, podId), async () => peer?.close(), () => containerd?.cleanup(), () => registry?.stop()));

  it('labels them as kubelet does and puts the pod network on the sandbox', async () => {
    const page = await eventually('the CRI plugin\'s container', async () => {
      const p = await scrapeMetrics(url);
      return p.samples('container_memory_working_set_bytes', { container: 'app' }).length === 1 ? p : undefined;
    });
    const [app] = page.samples('container_cpu_usage_seconds_total', { container: 'app' });
    expect(app!.labels).toMatchObject({ pod: 'cri-mx', namespace: 'e2e' });
    expect(app!.labels['image']).toContain('busybox');
    expect(app!.labels['id']).toContain(app!.labels['name']!);
    const rx = page.samples('container_network_receive_bytes_total', { pod: 'cri-mx', interface: 'eth0' });
    expect(rx.map((s) => [s.labels['name'], s.labels['container']])).toEqual([[podId, '']]);
    expect(page.value('container_processes', { name: podId })).toBeGreaterThanOrEqual(1);
  });
});
