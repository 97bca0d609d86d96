// The sandbox spec as real runc sees it: a pause-like busybox process started with `runc run` from the spec
// buildSandboxSpec produces. Runs only as root with runc, a static busybox and `ip` (skipped elsewhere);
// runc keeps its state in a temporary --root, the cgroup parent and the network namespace are unique.
import { cri } from '@crisp/api';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildSandboxSpec } from '../src/oci/sandbox-spec';
import { busyboxBundle, hostFacts, removeTestCgroups, runcAvailable } from './runc-fixture';

const run = promisify(execFile);

const d = runcAvailable() ? describe : describe.skip;

d('sandbox spec under runc', () => {
  const tag = `crisp-unit-${process.pid}`;
  const netns = tag;
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crisp-runc-'));
    execFileSync('ip', ['netns', 'add', netns]);
  });

  afterAll(() => {
    try {
      execFileSync('ip', ['netns', 'delete', netns]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
    removeTestCgroups(tag);
  });

  async function runSandbox(variant: string, sc: Parameters<typeof cri.LinuxSandboxSecurityContext.fromPartial>[0], hostNet: boolean): Promise<string> {
    const bundle = busyboxBundle(dir, variant);
    const config = cri.PodSandboxConfig.fromPartial({
      metadata: { name: variant, uid: 'uid-1', namespace: 'default' },
      hostname: hostNet ? '' : `pod-${variant}`,
      logDirectory: '/var/log/pods/x',
      linux: {
        cgroupParent: `/${tag}`,
        securityContext: sc,
        sysctls: hostNet ? {} : { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' },
      },
    });
    const script = [
      'id',
      'hostname',
      'grep -E "^(CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
      'echo oom=$(cat /proc/self/oom_score_adj)',
      'echo ports=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)',
      'touch /x 2>/dev/null && echo rootfs=rw || echo rootfs=ro',
    ].join('; ');
    const spec = buildSandboxSpec({
      id: `${tag}-${variant}`,
      config,
      imageConfig: { entrypoint: ['/bin/busybox'], cmd: ['sh', '-c', script] },
      ...(hostNet ? {} : { netnsPath: `/var/run/netns/${netns}` }),
      cgroupDriver: 'cgroupfs',
      runtimeHandler: 'runc',
      ...(await hostFacts()),
    });
    writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const root = path.join(dir, 'runc-state');
    try {
      const { stdout } = await run('runc', ['--root', root, 'run', '--bundle', bundle, `${tag}-${variant}`], { timeout: 20_000 });
      return stdout;
    } finally {
      await run('runc', ['--root', root, 'delete', '--force', `${tag}-${variant}`]).catch(() => undefined);
    }
  }

  it('runs a default pod', async () => {
    const out = await runSandbox('default', { namespaceOptions: { network: cri.NamespaceMode.POD, pid: cri.NamespaceMode.CONTAINER } }, false);
    expect(out).toContain('uid=0 gid=0');
    expect(out).toContain('pod-default');
    expect(out).toMatch(/CapBnd:\s+00000000a80425fb/);
    expect(out).toMatch(/NoNewPrivs:\s+1/);
    expect(out).toContain('ports=0');
    expect(out).toContain('rootfs=ro');
  }, 30_000);

  it('runs a host-network pod as another user with the default seccomp profile', async () => {
    const out = await runSandbox(
      'hostnet',
      {
        namespaceOptions: { network: cri.NamespaceMode.NODE, pid: cri.NamespaceMode.NODE, ipc: cri.NamespaceMode.NODE },
        runAsUser: { value: 1000n },
        runAsGroup: { value: 1000n },
        supplementalGroups: [5n],
        seccomp: { profileType: cri.SecurityProfile_ProfileType.RuntimeDefault },
      },
      true,
    );
    expect(out).toContain('uid=1000 gid=1000 groups=5,1000');
    expect(out).toContain(os.hostname());
    expect(out).toMatch(/Seccomp:\s+2/);
  }, 30_000);

  it('runs a privileged pod', async () => {
    const out = await runSandbox('privileged', { privileged: true }, false);
    const bounding = BigInt(`0x${/CapBnd:\s+([0-9a-f]+)/.exec(out)?.[1] ?? '0'}`);
    expect((bounding >> 21n) & 1n).toBe(1n); // CAP_SYS_ADMIN
    expect(out).toMatch(/Seccomp:\s+0/);
  }, 30_000);
});
