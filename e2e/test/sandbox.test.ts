// Pod sandboxes end to end: real containerd, runc and Debian's CNI plugins (bridge, host-local,
// loopback, portmap) on a test bridge with its own subnet. Traffic goes only to pod addresses in
// network namespaces this test made, and to this machine's own bridge address.
import { cri } from '@crisp/api';
import { ContainerdClient } from '@crisp/containerd';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Status } from 'nice-grpc';
import { eventually, grpcError, makeTempDir, pushFixtures, runChecked, runCommand, startCrisp, startRegistry, startTestContainerd } from '@crisp/e2e';
import type { CrispProcess, TestContainerd, TestRegistry } from '@crisp/e2e';

jest.setTimeout(240_000);

const NS = 'k8s.io';
const SUBNET = '10.231.7.0/24';
const BRIDGE = 'crisp-e2e-br0';
const HOSTPORT = 18080;

function podConfig(name: string, extra: Partial<cri.PodSandboxConfig> = {}): cri.PodSandboxConfig {
  return cri.PodSandboxConfig.fromPartial({
    metadata: { name, namespace: 'e2e', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: '',
    labels: { app: name, suite: 'sandbox' },
    annotations: { 'crisp.test/note': name },
    linux: { cgroupParent: '', securityContext: { namespaceOptions: { network: cri.NamespaceMode.POD, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } },
    ...extra,
  });
}

/** A TCP server in a netns, answering each connection with `reply`. */
function serveIn(netnsPath: string, port: number, reply: string): ChildProcess {
  const script = `require('net').createServer(s=>s.end(${JSON.stringify(reply)})).listen(${port},()=>console.log('listening'))`;
  return spawn('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function listening(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}

function fetchTcp(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, timeout: 3000 });
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => resolve(data));
    s.on('timeout', () => {
      s.destroy();
      reject(new Error(`timeout connecting to ${host}:${port}`));
    });
    s.on('error', reject);
  });
}

function ipInSubnet(ip: string): boolean {
  return ip.startsWith('10.231.7.');
}

describe('pod sandboxes with CNI', () => {
  let containerd: TestContainerd;
  let registry: TestRegistry;
  let crisp: CrispProcess;
  let client: ContainerdClient;
  let ipamDir: string;
  let cniConfDir: string;
  const servers: ChildProcess[] = [];
  let config: string;

  const allocatedIps = (): string[] =>
    existsSync(path.join(ipamDir, 'crisp-e2e'))
      ? readdirSync(path.join(ipamDir, 'crisp-e2e')).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
      : [];

  beforeAll(async () => {
    containerd = await startTestContainerd();
    client = new ContainerdClient({ address: containerd.address, namespace: NS });
    registry = await startRegistry();
    const { pause } = await pushFixtures(registry, ['pause']);
    ipamDir = makeTempDir('crisp-e2e-ipam-');
    cniConfDir = makeTempDir('crisp-e2e-netd-');
    writeFileSync(
      path.join(cniConfDir, '10-crisp-e2e.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'crisp-e2e',
        plugins: [
          // The pod's default route points at the bridge (no masquerade): replies to the client netns go back through the host.
          { type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir } },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }),
    );
    config = [
      `sandbox_image = "${pause.reference}"`,
      '[cni]',
      `conf_dir = "${cniConfDir}"`,
      'bin_dirs = ["/usr/lib/cni"]',
      '',
    ].join('\n');
    crisp = await startCrisp({ containerdAddress: containerd.address, config });
  });

  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    client?.close();
    await crisp?.stop();
    await containerd?.cleanup();
    await registry?.stop();
    await runCommand('ip', ['link', 'del', BRIDGE]);
    await runCommand('ip', ['netns', 'del', 'crisp-e2e-client']);
    await runCommand('ip', ['link', 'del', 'crisp-e2e-hv']);
  });

  const status = async (id: string): Promise<cri.PodSandboxStatusResponse> => crisp.runtime.podSandboxStatus({ podSandboxId: id, verbose: true });
  const netnsOf = async (id: string): Promise<string> => (JSON.parse((await status(id)).info['info']!) as { netnsPath: string }).netnsPath;

  let podA = '';
  let podB = '';

  it('runs a sandbox with an IP from the CNI subnet, reachable from the host', async () => {
    podA = (await crisp.runtime.runPodSandbox({ config: podConfig('pod-a') })).podSandboxId;
    expect(podA).toMatch(/^[0-9a-f]{64}$/);
    const st = await status(podA);
    expect(st.status?.state).toBe(cri.PodSandboxState.SANDBOX_READY);
    expect(st.status?.metadata).toMatchObject({ name: 'pod-a', namespace: 'e2e', uid: 'uid-pod-a' });
    expect(st.status?.labels).toEqual({ app: 'pod-a', suite: 'sandbox' });
    expect(st.status?.annotations).toEqual({ 'crisp.test/note': 'pod-a' });
    expect(st.status?.runtimeHandler).toBe('runc');
    const ip = st.status!.network!.ip;
    expect(ipInSubnet(ip)).toBe(true);
    expect(allocatedIps()).toContain(ip);

    const info = JSON.parse(st.info['info']!) as { pid: number; netnsPath: string };
    expect(info.pid).toBeGreaterThan(0);
    expect(existsSync(info.netnsPath)).toBe(true);
    // The pause process really runs in that netns.
    const { stdout } = await runChecked('readlink', [`/proc/${info.pid}/ns/net`]);
    const { stdout: pinned } = await runChecked('nsenter', [`--net=${info.netnsPath}`, 'readlink', '/proc/self/ns/net']);
    expect(stdout.trim()).toBe(pinned.trim());
    const lo = await runChecked('nsenter', [`--net=${info.netnsPath}`, 'ip', 'link', 'show', 'lo']);
    expect(lo.stdout).toMatch(/UP/);

    const srv = serveIn(info.netnsPath, 8080, 'hi from pod-a\n');
    servers.push(srv);
    await listening(srv);
    expect(await fetchTcp(ip, 8080)).toBe('hi from pod-a\n');
  });

  it('gives a second pod another IP, and the two pods reach each other', async () => {
    podB = (await crisp.runtime.runPodSandbox({ config: podConfig('pod-b', { portMappings: [cri.PortMapping.fromPartial({ protocol: cri.Protocol.TCP, containerPort: 8080, hostPort: HOSTPORT })] }) })).podSandboxId;
    const ipA = (await status(podA)).status!.network!.ip;
    const ipB = (await status(podB)).status!.network!.ip;
    expect(ipInSubnet(ipB)).toBe(true);
    expect(ipB).not.toBe(ipA);
    const nsB = await netnsOf(podB);
    const srv = serveIn(nsB, 8080, 'hi from pod-b\n');
    servers.push(srv);
    await listening(srv);
    const fromB = await runChecked('nsenter', [`--net=${nsB}`, 'busybox', 'nc', '-w', '3', ipA, '8080']);
    expect(fromB.stdout).toBe('hi from pod-a\n');
  });

  it('maps a hostPort (tested from a client netns the test made)', async () => {
    // client netns <-> host over a veth pair with its own /30; the client targets the host side.
    await runChecked('ip', ['netns', 'add', 'crisp-e2e-client']);
    await runChecked('ip', ['link', 'add', 'crisp-e2e-hv', 'type', 'veth', 'peer', 'name', 'crisp-e2e-cv']);
    await runChecked('ip', ['link', 'set', 'crisp-e2e-cv', 'netns', 'crisp-e2e-client']);
    await runChecked('ip', ['addr', 'add', '10.231.9.1/30', 'dev', 'crisp-e2e-hv']);
    await runChecked('ip', ['link', 'set', 'crisp-e2e-hv', 'up']);
    await runChecked('ip', ['netns', 'exec', 'crisp-e2e-client', 'ip', 'addr', 'add', '10.231.9.2/30', 'dev', 'crisp-e2e-cv']);
    await runChecked('ip', ['netns', 'exec', 'crisp-e2e-client', 'ip', 'link', 'set', 'crisp-e2e-cv', 'up']);
    await runChecked('ip', ['netns', 'exec', 'crisp-e2e-client', 'ip', 'route', 'add', SUBNET, 'via', '10.231.9.1']);
    const res = await runChecked('ip', ['netns', 'exec', 'crisp-e2e-client', 'busybox', 'nc', '-w', '3', '10.231.9.1', String(HOSTPORT)]);
    expect(res.stdout).toBe('hi from pod-b\n');
  });

  it('runs host-network pods in the node network namespace', async () => {
    const id = (await crisp.runtime.runPodSandbox({
      config: podConfig('pod-host', { linux: { cgroupParent: '', securityContext: { namespaceOptions: { network: cri.NamespaceMode.NODE, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } } as never }),
    })).podSandboxId;
    const st = await status(id);
    expect(st.status?.state).toBe(cri.PodSandboxState.SANDBOX_READY);
    const info = JSON.parse(st.info['info']!) as { pid: number; netnsPath: string };
    expect(info.netnsPath).toBe('');
    const podNet = await runChecked('readlink', [`/proc/${info.pid}/ns/net`]);
    const hostNet = await runChecked('readlink', ['/proc/self/ns/net']);
    expect(podNet.stdout).toBe(hostNet.stdout);
    await crisp.runtime.removePodSandbox({ podSandboxId: id });
  });

  it('answers a kubelet retry with the same id and a conflicting request with ALREADY_EXISTS', async () => {
    const cfg = podConfig('pod-retry');
    const [a, b] = await Promise.all([crisp.runtime.runPodSandbox({ config: cfg }), crisp.runtime.runPodSandbox({ config: cfg })]);
    expect(a.podSandboxId).toBe(b.podSandboxId);
    expect((await crisp.runtime.runPodSandbox({ config: cfg })).podSandboxId).toBe(a.podSandboxId);
    const conflict = await grpcError(crisp.runtime.runPodSandbox({ config: { ...cfg, hostname: 'other' } }));
    expect(conflict.code).toBe(Status.ALREADY_EXISTS);
    expect(conflict.details).toContain(a.podSandboxId);
    await crisp.runtime.removePodSandbox({ podSandboxId: a.podSandboxId });
  });

  it('lists with filters and streams the same', async () => {
    const all = (await crisp.runtime.listPodSandbox({})).items.map((p) => p.id);
    expect(all).toEqual(expect.arrayContaining([podA, podB]));
    expect((await crisp.runtime.listPodSandbox({ filter: { id: podA.slice(0, 12), labelSelector: {} } })).items.map((p) => p.id)).toEqual([podA]);
    expect((await crisp.runtime.listPodSandbox({ filter: { id: '', labelSelector: { app: 'pod-b' } } })).items.map((p) => p.id)).toEqual([podB]);
    const ready = await crisp.runtime.listPodSandbox({ filter: { id: '', state: { state: cri.PodSandboxState.SANDBOX_READY }, labelSelector: { suite: 'sandbox' } } });
    expect(ready.items.map((p) => p.id).sort()).toEqual([podA, podB].sort());
    const streamed: string[] = [];
    for await (const msg of crisp.runtime.streamPodSandboxes({})) streamed.push(...msg.podSandboxes.map((p) => p.id));
    expect(streamed.sort()).toEqual(all.sort());
  });

  it('keeps everything across a crisp restart', async () => {
    await crisp.kill('SIGKILL');
    await crisp.restart();
    const st = await status(podA);
    expect(st.status?.state).toBe(cri.PodSandboxState.SANDBOX_READY);
    expect(ipInSubnet(st.status!.network!.ip)).toBe(true);
    expect(await fetchTcp(st.status!.network!.ip, 8080)).toBe('hi from pod-a\n');
  });

  it('finishes a RunPodSandbox whose caller gave up, and hands the retry its id', async () => {
    const cfg = podConfig('pod-timeout');
    const first = await crisp.runtime.runPodSandbox({ config: cfg }, { signal: AbortSignal.timeout(20) }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(['AbortError', 'TimeoutError']).toContain(first?.name);
    const retry = await crisp.runtime.runPodSandbox({ config: cfg });
    const pods = (await crisp.runtime.listPodSandbox({ filter: { id: '', labelSelector: { app: 'pod-timeout' } } })).items;
    expect(pods.map((p) => p.id)).toEqual([retry.podSandboxId]);
    expect((await status(retry.podSandboxId)).status?.state).toBe(cri.PodSandboxState.SANDBOX_READY);
    await crisp.runtime.removePodSandbox({ podSandboxId: retry.podSandboxId });
  });

  it('shows NOTREADY when the pause process dies, and still stops and removes cleanly', async () => {
    const id = (await crisp.runtime.runPodSandbox({ config: podConfig('pod-dies') })).podSandboxId;
    const { pid } = JSON.parse((await status(id)).info['info']!) as { pid: number };
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    while ((await status(id)).status?.state !== cri.PodSandboxState.SANDBOX_NOTREADY && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await status(id)).status?.state).toBe(cri.PodSandboxState.SANDBOX_NOTREADY);
    await crisp.runtime.stopPodSandbox({ podSandboxId: id });
    await crisp.runtime.removePodSandbox({ podSandboxId: id });
    expect((await grpcError(status(id))).code).toBe(Status.NOT_FOUND);
  });

  it('stop releases the IP and is idempotent; remove leaves nothing behind', async () => {
    const st = await status(podA);
    const ip = st.status!.network!.ip;
    const netns = await netnsOf(podA);
    await crisp.runtime.stopPodSandbox({ podSandboxId: podA });
    expect((await status(podA)).status?.state).toBe(cri.PodSandboxState.SANDBOX_NOTREADY);
    expect(allocatedIps()).not.toContain(ip);
    expect(existsSync(netns)).toBe(false);
    await crisp.runtime.stopPodSandbox({ podSandboxId: podA });

    await crisp.runtime.removePodSandbox({ podSandboxId: podA });
    await crisp.runtime.removePodSandbox({ podSandboxId: podA });
    expect((await grpcError(status(podA))).code).toBe(Status.NOT_FOUND);
    await expect(client.containers.get({ id: podA })).rejects.toMatchObject({ code: 'not-found' });
    await expect(client.snapshots.stat({ snapshotter: 'overlayfs', key: podA })).rejects.toMatchObject({ code: 'not-found' });
    expect(existsSync(path.join(crisp.stateDir, 'sandboxes', podA))).toBe(false);

    await crisp.runtime.removePodSandbox({ podSandboxId: podB });
    expect(allocatedIps()).toEqual([]);
    // Unknown ids are success for stop and remove, NOT_FOUND for status.
    await crisp.runtime.stopPodSandbox({ podSandboxId: 'f'.repeat(64) });
    await crisp.runtime.removePodSandbox({ podSandboxId: 'f'.repeat(64) });
  });

  it('rejects bad metadata and unknown handlers with INVALID_ARGUMENT', async () => {
    const noUid = podConfig('bad');
    noUid.metadata!.uid = '';
    expect((await grpcError(crisp.runtime.runPodSandbox({ config: noUid }))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(crisp.runtime.runPodSandbox({ config: podConfig('bad2'), runtimeHandler: 'kata' }))).code).toBe(Status.INVALID_ARGUMENT);
  });

  it('a failing CNI plugin leaves no pause container, netns or IP; an unknown sandbox image is NOT_FOUND', async () => {
    const before = (await client.containers.list({ filters: [] })).containers.length;
    const netnsBefore = existsSync('/var/run/netns') ? readdirSync('/var/run/netns').length : 0;
    // A chain whose second plugin always fails, after the bridge has allocated an IP.
    const failDir = makeTempDir('crisp-e2e-failcni-');
    const binDir = path.join(failDir, 'bin');
    mkdirSync(binDir);
    writeFileSync(path.join(binDir, 'crisp-fail'), '#!/bin/sh\necho \'{"cniVersion":"1.0.0","code":100,"msg":"crisp-fail always fails"}\'\nexit 1\n', { mode: 0o755 });
    const confDir = path.join(failDir, 'net.d');
    mkdirSync(confDir);
    writeFileSync(
      path.join(confDir, '10-fail.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'crisp-e2e',
        plugins: [{ type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], dataDir: ipamDir } }, { type: 'crisp-fail' }],
      }),
    );
    const failing = await startCrisp({
      containerdAddress: containerd.address,
      config: config.replace(`conf_dir = "${cniConfDir}"`, `conf_dir = "${confDir}"`).replace('bin_dirs = ["/usr/lib/cni"]', `bin_dirs = ["/usr/lib/cni", "${binDir}"]`),
    });
    try {
      const err = await grpcError(failing.runtime.runPodSandbox({ config: podConfig('pod-fail') }));
      expect(err.details).toContain('crisp-fail always fails');
      expect((await client.containers.list({ filters: [] })).containers.length).toBe(before);
      expect(existsSync('/var/run/netns') ? readdirSync('/var/run/netns').length : 0).toBe(netnsBefore);
      expect(allocatedIps()).toEqual([]);
      expect(readdirSync(path.join(failing.stateDir, 'sandboxes'))).toEqual([]);
    } finally {
      await failing.stop();
    }

    const noImage = await startCrisp({
      containerdAddress: containerd.address,
      config: config.replace(/sandbox_image = ".*"/, `sandbox_image = "${registry.host}/crisp-test/no-such-pause:1"`),
    });
    try {
      const err = await grpcError(noImage.runtime.runPodSandbox({ config: podConfig('pod-noimage') }));
      expect(err.code).toBe(Status.NOT_FOUND);
      expect((await client.containers.list({ filters: [] })).containers.length).toBe(before);
    } finally {
      await noImage.stop();
    }
  });

  it('keeps spare leases that expire by themselves, and deletes them when it stops', async () => {
    // This crisp's: those of the crisp killed earlier in this file stay until they expire.
    const prefix = `crisp-create-${crisp.pid}-`;
    const spares = async () => (await client.leases.list({ filters: [] })).leases.filter((l) => l.id.startsWith(prefix));
    const id = (await crisp.runtime.runPodSandbox({ config: podConfig('pod-leases') })).podSandboxId;
    // Two spares, and not the pod's own: that one went once the pause container referenced its snapshot.
    await eventually('two spare leases', async () => (await spares()).length === 2);
    for (const lease of await spares()) {
      // A spare outlives its idle time (5 min) and a full operation (4 min), and no more.
      const expires = Date.parse(lease.labels['containerd.io/gc.expire'] ?? '');
      expect(expires - Date.now()).toBeGreaterThan(8 * 60_000);
      expect(expires - Date.now()).toBeLessThanOrEqual(9 * 60_000);
    }
    await crisp.runtime.stopPodSandbox({ podSandboxId: id });
    await crisp.runtime.removePodSandbox({ podSandboxId: id });
    await crisp.stop();
    expect(await spares()).toEqual([]);
    await crisp.restart();
  });
});
