import { cri } from '@crisp/api';
import { Status } from 'nice-grpc-common';
import { parseCapabilityMask } from '../src/oci/capabilities';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, defaultDeviceRules } from '../src/oci/defaults';
import {
  ANNOTATION_CONTAINER_TYPE,
  ANNOTATION_SANDBOX_ID,
  ANNOTATION_SANDBOX_LOG_DIRECTORY,
  ANNOTATION_SANDBOX_NAME,
  ANNOTATION_SANDBOX_NAMESPACE,
  ANNOTATION_SANDBOX_UID,
  type SandboxSpecInput,
  buildSandboxSpec,
  sandboxSeccompChoice,
} from '../src/oci/sandbox-spec';
import type { LinuxSeccomp, Spec } from '../src/oci/types';
import { failsWith } from './expect-status';

const { POD, CONTAINER, NODE, TARGET } = cri.NamespaceMode;
const ID = '4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8';
const NETNS = '/var/run/netns/cni-1234';
const PAUSE = { entrypoint: ['/pause'], cmd: [], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], workingDir: '/', user: '65535:65535' };

type ConfigOverrides = Parameters<typeof cri.PodSandboxConfig.fromPartial>[0];

function podConfig(over: ConfigOverrides = {}): cri.PodSandboxConfig {
  return cri.PodSandboxConfig.fromPartial({
    metadata: { name: 'web-0', uid: 'b7a1c2d3-0000-4000-8000-000000000001', namespace: 'default', attempt: 0 },
    hostname: 'web-0',
    logDirectory: '/var/log/pods/default_web-0_b7a1c2d3-0000-4000-8000-000000000001',
    annotations: { 'kubernetes.io/config.source': 'api' },
    labels: { app: 'web' },
    ...over,
    linux: {
      cgroupParent: '/kubepods/besteffort/podb7a1c2d3',
      ...over.linux,
      securityContext: {
        namespaceOptions: { network: POD, pid: CONTAINER, ipc: POD },
        ...over.linux?.securityContext,
      },
    },
  });
}

function build(over: ConfigOverrides = {}, input: Partial<SandboxSpecInput> = {}): Spec {
  const config = podConfig(over);
  const hostNet = config.linux?.securityContext?.namespaceOptions?.network === NODE;
  return buildSandboxSpec({
    id: ID,
    config,
    imageConfig: PAUSE,
    ...(hostNet ? {} : { netnsPath: NETNS }),
    cgroupDriver: 'cgroupfs',
    ownOomScoreAdj: 0,
    runtimeHandler: 'runc',
    ...input,
  });
}

function error(fn: () => unknown, code = Status.INVALID_ARGUMENT): string {
  return failsWith(code, fn);
}

const nsTypes = (s: Spec): string[] => (s.linux?.namespaces ?? []).map((n) => n.type).sort();

describe('buildSandboxSpec: a default pod', () => {
  const spec = build();

  it('runs the pause entrypoint as the image user, from a read-only rootfs', () => {
    expect(spec.process?.args).toEqual(['/pause']);
    expect(spec.process?.env).toEqual(PAUSE.env);
    expect(spec.process?.cwd).toBe('/');
    expect(spec.process?.user).toEqual({ uid: 65535, gid: 65535, additionalGids: [65535] });
    expect(spec.process?.terminal).toBe(false);
    expect(spec.process?.noNewPrivileges).toBe(true);
    expect(spec.process?.rlimits).toBeUndefined();
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
  });

  it('keeps the default capabilities, masked and read-only paths and device rules', () => {
    expect(spec.process?.capabilities?.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.linux?.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(spec.linux?.readonlyPaths?.length).toBeGreaterThan(0);
    expect(spec.linux?.resources?.devices).toEqual(defaultDeviceRules());
  });

  it('joins the pod network namespace and creates pid, ipc, uts and mount namespaces', () => {
    expect(nsTypes(spec)).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(spec.linux?.namespaces).toContainEqual({ type: 'network', path: NETNS });
    expect(spec.linux?.namespaces?.filter((n) => n.path !== undefined)).toHaveLength(1);
    expect(spec.hostname).toBe('web-0');
  });

  it('puts the pause container in the pod cgroup with 2 CPU shares and oom_score_adj -998 (raised to crisp own)', () => {
    expect(spec.linux?.cgroupsPath).toBe(`/kubepods/besteffort/podb7a1c2d3/${ID}`);
    expect(spec.linux?.resources?.cpu).toEqual({ shares: 2 });
    expect(spec.process?.oomScoreAdj).toBe(0);
    expect(build({}, { ownOomScoreAdj: -1000 }).process?.oomScoreAdj).toBe(-998);
  });

  it('sets the CRI annotations and copies the pod annotations', () => {
    expect(spec.annotations).toEqual({
      'kubernetes.io/config.source': 'api',
      [ANNOTATION_CONTAINER_TYPE]: 'sandbox',
      [ANNOTATION_SANDBOX_ID]: ID,
      [ANNOTATION_SANDBOX_NAME]: 'web-0',
      [ANNOTATION_SANDBOX_NAMESPACE]: 'default',
      [ANNOTATION_SANDBOX_UID]: 'b7a1c2d3-0000-4000-8000-000000000001',
      [ANNOTATION_SANDBOX_LOG_DIRECTORY]: '/var/log/pods/default_web-0_b7a1c2d3-0000-4000-8000-000000000001',
    });
  });

  it('has no seccomp filter, sysctls or AppArmor profile when none is asked for', () => {
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.linux?.sysctl).toBeUndefined();
    expect(spec.process?.apparmorProfile).toBeUndefined();
  });

  it('keeps the default /dev/shm tmpfs without a pod shm path', () => {
    expect(spec.mounts).toContainEqual(expect.objectContaining({ destination: '/dev/shm', type: 'tmpfs' }));
  });

  it('is plain JSON (no bigints, no undefined values)', () => {
    const json = JSON.stringify(spec);
    expect(JSON.parse(json)).toEqual(spec);
    expect(json).not.toContain('undefined');
  });
});

describe('buildSandboxSpec: namespaces', () => {
  it('host network: no network or UTS namespace and no hostname', () => {
    const spec = build({ hostname: '', linux: { securityContext: { namespaceOptions: { network: NODE, pid: CONTAINER, ipc: POD } } } });
    expect(nsTypes(spec)).toEqual(['ipc', 'mount', 'pid']);
    expect(spec.hostname).toBeUndefined();
  });

  it('host network: a hostname sent anyway is not set (there is no UTS namespace)', () => {
    const spec = build({ hostname: 'node-1', linux: { securityContext: { namespaceOptions: { network: NODE } } } });
    expect(spec.hostname).toBeUndefined();
  });

  it.each([
    [NODE, ['ipc', 'mount', 'network', 'uts']],
    [POD, ['ipc', 'mount', 'network', 'pid', 'uts']],
    [CONTAINER, ['ipc', 'mount', 'network', 'pid', 'uts']],
  ])('pid mode %p', (pid, expected) => {
    expect(nsTypes(build({ linux: { securityContext: { namespaceOptions: { network: POD, pid, ipc: POD } } } }))).toEqual(expected);
  });

  it('ipc NODE: no IPC namespace, the host /dev/shm bound read-only', () => {
    const spec = build({ linux: { securityContext: { namespaceOptions: { network: POD, pid: CONTAINER, ipc: NODE } } } }, { devShmPath: '/run/crisp/x/shm' });
    expect(nsTypes(spec)).toEqual(['mount', 'network', 'pid', 'uts']);
    const shm = spec.mounts!.filter((m) => m.destination === '/dev/shm');
    expect(shm).toEqual([{ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] }]);
  });

  it('binds the pod /dev/shm when given', () => {
    const spec = build({}, { devShmPath: '/run/crisp/sandboxes/x/shm' });
    const shm = spec.mounts!.filter((m) => m.destination === '/dev/shm');
    expect(shm).toEqual([{ destination: '/dev/shm', type: 'bind', source: '/run/crisp/sandboxes/x/shm', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] }]);
  });

  it('all host namespaces', () => {
    const spec = build({ hostname: '', linux: { securityContext: { namespaceOptions: { network: NODE, pid: NODE, ipc: NODE } } } });
    expect(nsTypes(spec)).toEqual(['mount']);
  });

  it('defaults to pod namespaces without namespace options', () => {
    const config = cri.PodSandboxConfig.fromPartial({ metadata: { name: 'a', uid: 'u', namespace: 'n' }, hostname: 'a' });
    const spec = buildSandboxSpec({ id: ID, config, imageConfig: PAUSE, netnsPath: NETNS, cgroupDriver: 'cgroupfs', ownOomScoreAdj: 0, runtimeHandler: 'runc' });
    expect(nsTypes(spec)).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(spec.linux?.cgroupsPath).toBe(`/k8s.io/${ID}`);
  });

  it.each([
    [{ network: TARGET }, /network namespace mode TARGET is not valid for a pod sandbox/],
    [{ pid: TARGET }, /pid namespace mode TARGET is not valid/],
    [{ ipc: 9 as cri.NamespaceMode }, /unknown ipc namespace mode 9/],
    [{ usernsOptions: { mode: POD, uids: [{ hostId: 100000, containerId: 0, length: 65536 }], gids: [] } }, /user namespaces .* are not supported/],
    [{ usernsOptions: { mode: CONTAINER, uids: [], gids: [] } }, /user namespace mode CONTAINER is not valid/],
  ])('rejects %p', (namespaceOptions, message) => {
    expect(error(() => build({ linux: { securityContext: { namespaceOptions: { network: POD, ...namespaceOptions } } } }))).toMatch(message);
  });

  it('accepts user namespace mode NODE, and POD without mappings', () => {
    expect(() => build({ linux: { securityContext: { namespaceOptions: { network: POD, usernsOptions: { mode: NODE } } } } })).not.toThrow();
    expect(() => build({ linux: { securityContext: { namespaceOptions: { network: POD, usernsOptions: { mode: POD } } } } })).not.toThrow();
  });

  it('insists on a netns path exactly for pod networking (a caller bug is INTERNAL)', () => {
    expect(error(() => build({}, { netnsPath: undefined }), Status.INTERNAL)).toMatch(/no network namespace path/);
    expect(error(() => build({ linux: { securityContext: { namespaceOptions: { network: NODE } } } }, { netnsPath: NETNS }), Status.INTERNAL)).toMatch(
      /host-network pod/,
    );
  });

  it.each([['a'.repeat(65), /longer than 64/], ['bad host', /invalid hostname/], ['a/b', /invalid hostname/]])('rejects hostname %j', (hostname, message) => {
    expect(error(() => build({ hostname }))).toMatch(message);
  });
});

describe('buildSandboxSpec: sysctls', () => {
  it('sets namespaced sysctls', () => {
    const sysctls = { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1' };
    expect(build({ linux: { sysctls } }).linux?.sysctl).toEqual(sysctls);
  });

  it.each([
    [{ network: NODE }, { 'net.ipv4.ip_forward': '1' }, /"net.ipv4.ip_forward" is not allowed with the host network namespace/],
    [{ network: POD, ipc: NODE }, { 'kernel.msgmax': '1' }, /"kernel.msgmax" is not allowed with the host IPC namespace/],
    [{ network: POD }, { 'vm.swappiness': '1' }, /"vm.swappiness" is not namespaced/],
  ])('rejects with %p: %p', (namespaceOptions, sysctls, message) => {
    const hostNet = namespaceOptions.network === NODE;
    expect(
      error(() =>
        build({ ...(hostNet ? { hostname: '' } : {}), linux: { sysctls, securityContext: { namespaceOptions } } }, hostNet ? { netnsPath: undefined } : {}),
      ),
    ).toMatch(message);
  });
});

describe('buildSandboxSpec: security', () => {
  const OWN = parseCapabilityMask('000001fffeffffff');

  it('privileged: every capability crisp holds, all devices, nothing masked, writable /sys, no seccomp', () => {
    const spec = build(
      { linux: { securityContext: { privileged: true, seccomp: { profileType: cri.SecurityProfile_ProfileType.RuntimeDefault } } } },
      { ownCapabilities: OWN },
    );
    expect(spec.process?.capabilities?.bounding).toHaveLength(40);
    expect(spec.process?.capabilities?.bounding).toContain('CAP_SYS_ADMIN');
    expect(spec.process?.capabilities?.permitted).not.toContain('CAP_SYS_RESOURCE');
    expect(spec.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.linux?.resources?.cpu).toEqual({ shares: 2 });
    expect(spec.linux?.maskedPaths).toBeUndefined();
    expect(spec.linux?.readonlyPaths).toBeUndefined();
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.mounts?.find((m) => m.destination === '/sys')?.options).toContain('rw');
    expect(spec.mounts?.find((m) => m.destination === '/sys/fs/cgroup')?.options).not.toContain('ro');
    expect(spec.root?.readonly).toBe(true);
  });

  it('readonly rootfs: the pause rootfs is read-only whatever the pod asks', () => {
    expect(build({ linux: { securityContext: { readonlyRootfs: true } } }).root).toEqual({ path: 'rootfs', readonly: true });
    expect(build({ linux: { securityContext: { readonlyRootfs: false } } }).root).toEqual({ path: 'rootfs', readonly: true });
  });

  it('run_as_user / run_as_group / supplemental groups override the image user', () => {
    const spec = build({ linux: { securityContext: { runAsUser: { value: 1000n }, runAsGroup: { value: 3000n }, supplementalGroups: [2000n, 4000n] } } });
    expect(spec.process?.user).toEqual({ uid: 1000, gid: 3000, additionalGids: [2000, 3000, 4000] });
  });

  it('run_as_user alone: gid 0 (the pause image has no /etc/passwd)', () => {
    expect(build({ linux: { securityContext: { runAsUser: { value: 0n } } } }).process?.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
  });

  it('resolves a named image user with the image files', () => {
    const spec = build({}, { imageConfig: { ...PAUSE, user: 'pause' }, etcFiles: { passwd: 'pause:x:101:102::/:/sbin/nologin\n', group: 'pause:x:102:\n' } });
    expect(spec.process?.user).toEqual({ uid: 101, gid: 102, additionalGids: [102] });
  });

  it.each([
    [{ runAsGroup: { value: 3000n } }, /run_as_group 3000 is set without run_as_user/],
    [{ runAsUser: { value: -1n } }, /run_as_user must be between/],
  ])('rejects %p', (securityContext, message) => {
    expect(error(() => build({ linux: { securityContext } }))).toMatch(message);
  });

  it('RuntimeDefault seccomp: crisp default profile for the default capabilities', () => {
    const spec = build({ linux: { securityContext: { seccomp: { profileType: cri.SecurityProfile_ProfileType.RuntimeDefault } } } });
    expect(spec.linux?.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
    const allowed = spec.linux!.seccomp!.syscalls!.filter((s) => !s.args && s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names);
    expect(allowed).toContain('chroot'); // CAP_SYS_CHROOT is a default capability
    expect(allowed).not.toContain('mount');
  });

  it('deprecated seccomp_profile_path runtime/default', () => {
    expect(build({ linux: { securityContext: { seccompProfilePath: 'runtime/default' } } }).linux?.seccomp).toBeDefined();
  });

  it('Localhost seccomp: the loaded profile', () => {
    const config = podConfig({
      linux: { securityContext: { seccomp: { profileType: cri.SecurityProfile_ProfileType.Localhost, localhostRef: '/var/lib/kubelet/seccomp/p.json' } } },
    });
    expect(sandboxSeccompChoice(config)).toEqual({ kind: 'localhost', path: '/var/lib/kubelet/seccomp/p.json' });
    const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_LOG' };
    const spec = buildSandboxSpec({ id: ID, config, imageConfig: PAUSE, netnsPath: NETNS, cgroupDriver: 'cgroupfs', ownOomScoreAdj: 0, runtimeHandler: 'runc', localhostSeccomp: profile });
    expect(spec.linux?.seccomp).toEqual(profile);
    expect(
      error(
        () => buildSandboxSpec({ id: ID, config, imageConfig: PAUSE, netnsPath: NETNS, cgroupDriver: 'cgroupfs', ownOomScoreAdj: 0, runtimeHandler: 'runc' }),
        Status.INTERNAL,
      ),
    ).toMatch(/was not loaded/);
  });

  it('AppArmor: ignored when not enabled, except a Localhost profile which cannot be honoured', () => {
    expect(build({ linux: { securityContext: { apparmor: { profileType: cri.SecurityProfile_ProfileType.RuntimeDefault } } } }).process?.apparmorProfile).toBeUndefined();
    expect(
      error(() => build({ linux: { securityContext: { apparmor: { profileType: cri.SecurityProfile_ProfileType.Localhost, localhostRef: 'k8s-nginx' } } } })),
    ).toMatch(/AppArmor profile "k8s-nginx" was requested but AppArmor is not enabled/);
    const enabled = build(
      { linux: { securityContext: { apparmor: { profileType: cri.SecurityProfile_ProfileType.Localhost, localhostRef: 'k8s-nginx' } } } },
      { apparmorEnabled: true },
    );
    expect(enabled.process?.apparmorProfile).toBe('k8s-nginx');
  });

  it('SELinux options are ignored (no SELinux on the node)', () => {
    const spec = build({ linux: { securityContext: { selinuxOptions: { user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c1,c2' } } } });
    expect(spec.process?.selinuxLabel).toBeUndefined();
    expect(spec.linux?.mountLabel).toBeUndefined();
  });
});

describe('buildSandboxSpec: process, cgroups and annotations', () => {
  it('raises -998 to crisp own oom_score_adj', () => {
    expect(build({}, { ownOomScoreAdj: -500 }).process?.oomScoreAdj).toBe(-500);
    expect(build({}, { ownOomScoreAdj: -999 }).process?.oomScoreAdj).toBe(-998);
  });

  it('joins entrypoint and cmd, adds PATH when the image has none, makes the cwd absolute', () => {
    const spec = build({}, { imageConfig: { entrypoint: ['/bin/sleep'], cmd: ['infinity'], env: ['A=1'], workingDir: 'work' } });
    expect(spec.process?.args).toEqual(['/bin/sleep', 'infinity']);
    expect(spec.process?.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=1']);
    expect(spec.process?.cwd).toBe('/work');
    expect(spec.process?.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(build({}, { imageConfig: { cmd: ['/pause'] } }).process?.args).toEqual(['/pause']);
  });

  it('refuses an image without entrypoint and cmd', () => {
    expect(error(() => build({}, { imageConfig: { entrypoint: [], cmd: [] } }), Status.FAILED_PRECONDITION)).toMatch(/neither an entrypoint nor a cmd/);
  });

  it('systemd cgroup driver', () => {
    const spec = build({ linux: { cgroupParent: 'kubepods-besteffort-podb7a1c2d3.slice' } }, { cgroupDriver: 'systemd' });
    expect(spec.linux?.cgroupsPath).toBe(`kubepods-besteffort-podb7a1c2d3.slice:crisp:${ID}`);
    expect(error(() => build({}, { cgroupDriver: 'systemd' }))).toMatch(/not a systemd slice/);
  });

  it('records the pod resources as annotations and validates them', () => {
    const spec = build({ linux: { resources: { cpuPeriod: 100000n, cpuQuota: 200000n, cpuShares: 2048n, memoryLimitInBytes: 1073741824n } } });
    expect(spec.annotations).toMatchObject({
      'io.kubernetes.cri.sandbox-cpu-period': '100000',
      'io.kubernetes.cri.sandbox-cpu-quota': '200000',
      'io.kubernetes.cri.sandbox-cpu-shares': '2048',
      'io.kubernetes.cri.sandbox-memory': '1073741824',
    });
    expect(spec.linux?.resources?.cpu).toEqual({ shares: 2 });
    expect(error(() => build({ linux: { overhead: { cpuShares: 1n } } }))).toMatch(/overhead.cpu_shares/);
  });

  it('does not copy pod annotations with reserved prefixes, and crisp annotations win', () => {
    const spec = build({
      annotations: {
        'org.systemd.property.CPUQuota': '1000%',
        'run.oci.keep_original_groups': '1',
        'io.katacontainers.config.hypervisor.path': '/evil',
        'io.kubernetes.cri.sandbox-id': 'spoofed',
        'example.com/ok': 'yes',
      },
    });
    expect(spec.annotations?.['example.com/ok']).toBe('yes');
    expect(spec.annotations?.[ANNOTATION_SANDBOX_ID]).toBe(ID);
    for (const k of Object.keys(spec.annotations ?? {})) {
      expect(k).not.toMatch(/^(org\.systemd\.property\.|run\.oci\.|io\.katacontainers\.)/);
    }
  });

  it('does not alias the input config', () => {
    const config = podConfig({ linux: { sysctls: { 'net.core.somaxconn': '1024' } } });
    const spec = buildSandboxSpec({ id: ID, config, imageConfig: PAUSE, netnsPath: NETNS, cgroupDriver: 'cgroupfs', ownOomScoreAdj: 0, runtimeHandler: 'runc' });
    spec.linux!.sysctl!['net.core.somaxconn'] = '1';
    spec.annotations!['kubernetes.io/config.source'] = 'x';
    expect(config.linux?.sysctls['net.core.somaxconn']).toBe('1024');
    expect(config.annotations['kubernetes.io/config.source']).toBe('api');
  });
});
