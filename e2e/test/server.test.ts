// The crisp server over its real socket, with a real containerd: Version, Status (containerd and CNI
// readiness), RuntimeConfig, health, UNIMPLEMENTED answers, socket handling, config errors, shutdown.
import { cri, health } from '@crisp/api';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc';
import { parse as parseToml } from 'smol-toml';
import { criClient, grpcError, makeTempDir, startCrisp, startTestContainerd } from '@crisp/e2e';
import type { CrispProcess, TestContainerd } from '@crisp/e2e';

const CLI = path.resolve(__dirname, '../../packages/server/dist/cli.js');
const PKG_VERSION = (JSON.parse(readFileSync(path.resolve(__dirname, '../../packages/server/package.json'), 'utf8')) as { version: string }).version;

jest.setTimeout(120_000);

type Containerd = TestContainerd;
type Crisp = CrispProcess;

function condition(res: cri.StatusResponse, type: string): cri.RuntimeCondition | undefined {
  return res.status?.conditions.find((c) => c.type === type);
}

async function expectStatus(p: Promise<unknown>, code: Status, text?: RegExp): Promise<void> {
  const err = await grpcError(p);
  expect(err.code).toBe(code);
  if (text) expect(err.details).toMatch(text);
}

describe('crisp server', () => {
  let containerd: Containerd;
  let crisp: Crisp;
  let cniDir: string;

  beforeAll(async () => {
    containerd = await startTestContainerd();
    cniDir = makeTempDir('crisp-e2e-cni-');
    crisp = await startCrisp({
      containerdAddress: containerd.address,
      config: `[cni]\nconf_dir = "${cniDir}"\nbin_dirs = ["/usr/lib/cni"]\n`,
    });
  });

  afterAll(async () => {
    await crisp?.stop();
    await containerd?.cleanup();
  });

  it('answers Version as crisp', async () => {
    const v = await crisp.runtime.version({ version: '0.1.0' });
    expect(v).toEqual({ version: '0.1.0', runtimeName: 'crisp', runtimeVersion: PKG_VERSION, runtimeApiVersion: 'v1' });
  });

  it('creates its socket with mode 0660', () => {
    const st = statSync(crisp.socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
  });

  it('reports the runtime ready and the network not ready until a CNI config exists', async () => {
    let s = await crisp.runtime.status({ verbose: false });
    expect(condition(s, 'RuntimeReady')).toMatchObject({ status: true });
    expect(condition(s, 'NetworkReady')).toMatchObject({ status: false, reason: 'NetworkPluginNotReady' });
    expect(condition(s, 'NetworkReady')?.message).toContain(cniDir);
    expect(s.info).toEqual({});

    writeFileSync(
      path.join(cniDir, '10-test.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'crisp-test',
        plugins: [{ type: 'bridge', bridge: 'crisp-t0', ipam: { type: 'host-local', subnet: '10.251.0.0/24' } }, { type: 'portmap', capabilities: { portMappings: true } }],
      }),
    );
    s = await crisp.runtime.status({ verbose: true });
    expect(condition(s, 'NetworkReady')).toMatchObject({ status: true, reason: '' });
    const config = JSON.parse(s.info['config']!) as { containerd: { namespace: string; address: string } };
    expect(config.containerd).toMatchObject({ namespace: 'k8s.io', address: containerd.address });
    expect(JSON.parse(s.info['cniconfig']!)).toMatchObject({ network: { name: 'crisp-test' } });
    expect(JSON.parse(s.info['containerd']!).version).toMatch(/^v?1\.|^v?2\./);
    expect(s.runtimeHandlers.map((h) => h.name)).toEqual(['', 'runc']);
  });

  it('renders the CNI config template when kubelet sends the pod CIDR', async () => {
    const dir = makeTempDir('crisp-e2e-podcidr-');
    const conf = path.join(dir, 'net.d');
    const tpl = path.join(dir, 'template.json');
    writeFileSync(
      tpl,
      JSON.stringify({ cniVersion: '1.0.0', name: 'tpl-net', plugins: [{ type: 'bridge', bridge: 'crisp-tpl0', ipam: { type: 'host-local', subnet: '{{.PodCIDR}}' } }] }),
    );
    const c = await startCrisp({ containerdAddress: containerd.address, config: `[cni]\nconf_dir = "${conf}"\nconf_template = "${tpl}"\nbin_dirs = ["/usr/lib/cni"]\n` });
    try {
      expect(condition(await c.runtime.status({ verbose: false }), 'NetworkReady')?.status).toBe(false);
      await c.runtime.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '10.252.3.0/24' } } });
      const s = await c.runtime.status({ verbose: true });
      expect(condition(s, 'NetworkReady')?.status).toBe(true);
      expect(JSON.parse(s.info['cniconfig']!)).toMatchObject({ network: { name: 'tpl-net', plugins: [{ ipam: { subnet: '10.252.3.0/24' } }] } });
      await expectStatus(c.runtime.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: 'nonsense' } } }), Status.INVALID_ARGUMENT, /invalid pod CIDR/);
    } finally {
      await c.stop();
    }
  });

  it('reports the cgroupfs driver by default', async () => {
    const rc = await crisp.runtime.runtimeConfig({});
    expect(rc.linux?.cgroupDriver).toBe(cri.CgroupDriver.CGROUPFS);
  });

  it('serves gRPC health', async () => {
    expect((await crisp.health.check({ service: '' })).status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
    expect((await crisp.health.check({ service: 'runtime.v1.RuntimeService' })).status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
    await expectStatus(crisp.health.check({ service: 'nope' }), Status.NOT_FOUND);
  });

  it('answers UNIMPLEMENTED, naming the RPC, for what is not built yet', async () => {
    await expectStatus(
      crisp.runtime.checkpointContainer({ containerId: 'x', location: '/tmp/x', timeout: 0n }),
      Status.UNIMPLEMENTED,
      /runtime\.v1\.RuntimeService\/CheckpointContainer is not implemented/,
    );
  });

  it('sees containerd die within a second and recovers when it comes back, without a restart', async () => {
    await containerd.kill();
    const t0 = Date.now();
    const down = await crisp.runtime.status({ verbose: false });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(condition(down, 'RuntimeReady')).toMatchObject({ status: false, reason: 'ContainerdUnreachable' });
    expect(condition(down, 'RuntimeReady')?.message).toContain(containerd.address);

    await containerd.restart();
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (!ready && Date.now() < deadline) {
      ready = condition(await crisp.runtime.status({ verbose: false }), 'RuntimeReady')?.status === true;
      if (!ready) await new Promise((r) => setTimeout(r, 200));
    }
    expect(ready).toBe(true);
  });

  it('replaces a stale socket left by a killed crisp and refuses a live one', async () => {
    const dir = makeTempDir('crisp-e2e-sock-');
    const first = await startCrisp({ containerdAddress: containerd.address, dir });
    await first.kill('SIGKILL');
    expect(existsSync(first.socket)).toBe(true);
    await first.restart();
    expect((await first.runtime.version({ version: '' })).runtimeName).toBe('crisp');

    const second = spawnSync('node', [CLI, 'serve', '--listen', first.socket, '--containerd-address', containerd.address, '--state-dir', path.join(dir, 'state2')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(second.status).not.toBe(0);
    expect(second.stderr).toContain(`another process is serving on ${first.socket}`);
    expect((await first.runtime.version({ version: '' })).runtimeName).toBe('crisp');
    await first.stop();
  });

  it('shuts down on SIGTERM, removing its socket', async () => {
    const dir = makeTempDir('crisp-e2e-term-');
    const c = await startCrisp({ containerdAddress: containerd.address, dir });
    const code = await c.stop();
    expect(code).toBe(0);
    expect(existsSync(c.socket)).toBe(false);
    expect(await c.logs()).toContain('crisp stopped');
  });
});

describe('crisp command line', () => {
  it('prints the full default config as valid TOML', () => {
    const r = spawnSync('node', [CLI, 'config', 'default'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const raw = parseToml(r.stdout) as Record<string, unknown>;
    expect(raw).toMatchObject({ listen: '/run/crisp/crisp.sock', containerd: { namespace: 'k8s.io' } });
  });

  it('refuses a bad config naming the key, with exit code 2', () => {
    const dir = makeTempDir('crisp-e2e-badcfg-');
    writeFileSync(path.join(dir, 'c.toml'), '[containerd]\nnamespace = 5\n');
    const r = spawnSync('node', [CLI, 'serve', '--config', path.join(dir, 'c.toml'), '--listen', path.join(dir, 's.sock')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('containerd.namespace: must be a string');
    expect(existsSync(path.join(dir, 's.sock'))).toBe(false);
  });

  it('rejects unknown flags', () => {
    const r = spawnSync('node', [CLI, 'serve', '--listn', '/x'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Unknown option '--listn'");
  });

  it('starts and stops a private containerd in dev mode', async () => {
    const dir = makeTempDir('crisp-e2e-dev-');
    mkdirSync(dir, { recursive: true });
    const sock = path.join(dir, 'crisp.sock');
    writeFileSync(path.join(dir, 'c.toml'), '[containerd]\nmanaged = "always"\n');
    const child = spawn('node', [CLI, 'serve', '--config', path.join(dir, 'c.toml'), '--listen', sock, '--state-dir', path.join(dir, 'state')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 60_000;
      while (!stderr.includes('crictl --runtime-endpoint') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(stderr).toContain(`crictl --runtime-endpoint unix://${sock}`);
      const client = criClient(sock);
      const s = await client.runtime.status({ verbose: true });
      expect(condition(s, 'RuntimeReady')?.status).toBe(true);
      const address = (JSON.parse(s.info['containerd']!) as { address: string }).address;
      const pidFile = readFileSync(path.join(dir, 'state', 'containerd', 'config.toml'), 'utf8');
      expect(pidFile).toContain(path.join(dir, 'state', 'containerd'));
      expect(existsSync(address)).toBe(true);
      client.close();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // The private containerd is gone with crisp.
      expect(existsSync(address)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
