import { cri } from '@crisp/api';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Status } from 'nice-grpc-common';
import { ALL_CAPABILITIES } from '../src/oci/capabilities';
import { DEFAULT_CAPABILITIES, DEFAULT_MASKED_PATHS, DEFAULT_PATH_ENV, DEFAULT_READONLY_PATHS, defaultDeviceRules } from '../src/oci/defaults';
import {
  ANNOTATION_CONTAINER_NAME,
  ANNOTATION_IMAGE_NAME,
  type ContainerImageConfig,
  type ContainerSpecInput,
  buildContainerSpec,
  containerArgs,
  containerHostPaths,
  containerSeccompChoice,
  containerUser,
  mergeEnv,
  uncoveredImageVolumes,
} from '../src/oci/container-spec';
import { deviceAccess, devNumbers, type HostDevice, readHostDeviceLookup, readHostDevices } from '../src/oci/devices';
import {
  ANNOTATION_CONTAINER_TYPE,
  ANNOTATION_SANDBOX_ID,
  ANNOTATION_SANDBOX_NAME,
  ANNOTATION_SANDBOX_NAMESPACE,
  ANNOTATION_SANDBOX_UID,
} from '../src/oci/sandbox-spec';
import { buildSandboxSpec } from '../src/oci/sandbox-spec';
import { parseSignal, stopSignalOf } from '../src/oci/signal';
import type { LinuxSeccomp, Mount, Spec } from '../src/oci/types';
import { failsWith } from './expect-status';
import { busyboxBundle, hostFacts, removeTestCgroups, runcAvailable } from './runc-fixture';

const { POD, CONTAINER, NODE, TARGET } = cri.NamespaceMode;
const { PROPAGATION_PRIVATE, PROPAGATION_HOST_TO_CONTAINER, PROPAGATION_BIDIRECTIONAL } = cri.MountPropagation;
const ID = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
const SB = '5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b';
const NETNS = '/var/run/netns/cni-1234';
const PAUSE_PID = 4242;
const SBDIR = `/var/lib/crisp/sandboxes/${SB}`;
const FILES = { hostname: `${SBDIR}/hostname`, hosts: `${SBDIR}/hosts`, resolvConf: `${SBDIR}/resolv.conf` };
const SHM = `/run/crisp/sandboxes/${SB}/shm`;
const IMAGE: ContainerImageConfig = {
  entrypoint: ['/docker-entrypoint.sh'],
  cmd: ['nginx', '-g', 'daemon off;'],
  env: [DEFAULT_PATH_ENV, 'NGINX_VERSION=1.25.3', 'PKG_RELEASE=1'],
  workingDir: '',
  user: '',
  volumes: [],
};
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n';
const GROUP = 'root:x:0:\nstaff:x:50:app\napp:x:1000:\nvideo:x:44:app,web\nwww-data:x:33:\n';

type PodOverrides = Parameters<typeof cri.PodSandboxConfig.fromPartial>[0];
type ContainerOverrides = Parameters<typeof cri.ContainerConfig.fromPartial>[0];

function podConfig(over: PodOverrides = {}): cri.PodSandboxConfig {
  return cri.PodSandboxConfig.fromPartial({
    metadata: { name: 'web-0', uid: 'b7a1c2d3-0000-4000-8000-000000000001', namespace: 'default', attempt: 0 },
    hostname: 'web-0',
    logDirectory: '/var/log/pods/default_web-0_b7a1c2d3-0000-4000-8000-000000000001',
    ...over,
    linux: {
      cgroupParent: '/kubepods/besteffort/podb7a1c2d3',
      ...over.linux,
      securityContext: { namespaceOptions: { network: POD, pid: CONTAINER, ipc: POD }, ...over.linux?.securityContext },
    },
  });
}

function containerConfig(over: ContainerOverrides = {}): cri.ContainerConfig {
  return cri.ContainerConfig.fromPartial({
    metadata: { name: 'nginx', attempt: 0 },
    image: { image: 'sha256:0123', userSpecifiedImage: 'docker.io/library/nginx:1.25' },
    logPath: 'nginx/0.log',
    ...over,
    linux: {
      ...over.linux,
      securityContext: { namespaceOptions: { network: POD, pid: CONTAINER, ipc: POD }, ...over.linux?.securityContext },
    },
  });
}

interface BuildOptions {
  pod?: PodOverrides;
  image?: Partial<ContainerImageConfig>;
  input?: Partial<ContainerSpecInput>;
}

function input(over: ContainerOverrides = {}, opts: BuildOptions = {}): ContainerSpecInput {
  const pod = podConfig(opts.pod);
  const hostNet = pod.linux?.securityContext?.namespaceOptions?.network === NODE;
  return {
    id: ID,
    config: containerConfig(over),
    sandbox: { id: SB, config: pod, ...(hostNet ? {} : { netnsPath: NETNS }), pid: PAUSE_PID, files: FILES, devShmPath: SHM },
    imageConfig: { ...IMAGE, ...opts.image },
    etcFiles: { passwd: PASSWD, group: GROUP },
    nodeHostname: 'node-1',
    cgroupDriver: 'cgroupfs',
    ownOomScoreAdj: -999,
    resourceSupport: { swap: true, hugetlb: true, cgroupV2: false },
    volumeDir: (p) => `/var/lib/crisp/containers/${ID}/volumes${p}`,
    ...opts.input,
  };
}

function build(over: ContainerOverrides = {}, opts: BuildOptions = {}): Spec {
  return buildContainerSpec(input(over, opts));
}

function error(fn: () => unknown, code = Status.INVALID_ARGUMENT): string {
  return failsWith(code, fn);
}

const env = (key: string, value: string | Buffer): cri.KeyValue => ({ key, value: typeof value === 'string' ? Buffer.from(value) : value });
const mount = (m: Partial<cri.Mount>): cri.Mount => cri.Mount.fromPartial(m);
const mountAt = (s: Spec, dest: string): Mount[] => (s.mounts ?? []).filter((m) => m.destination === dest);
const nsOf = (s: Spec): Record<string, string | undefined> => Object.fromEntries((s.linux?.namespaces ?? []).map((n) => [n.type, n.path]));

describe('buildContainerSpec: a default container', () => {
  const spec = build();

  it('runs the image entrypoint and cmd as root in /, with PATH, HOSTNAME and the image env', () => {
    expect(spec.process?.args).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    expect(spec.process?.env).toEqual([DEFAULT_PATH_ENV, 'HOSTNAME=web-0', 'NGINX_VERSION=1.25.3', 'PKG_RELEASE=1']);
    expect(spec.process?.cwd).toBe('/');
    expect(spec.process?.user).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(spec.process?.terminal).toBe(false);
    expect(spec.process?.noNewPrivileges).toBe(false);
    expect(spec.process?.oomScoreAdj).toBeUndefined();
    expect(spec.root).toEqual({ path: 'rootfs' });
    expect(spec.hostname).toBeUndefined();
  });

  it('keeps the default capabilities, masked and read-only paths and device rules, without seccomp', () => {
    expect(spec.process?.capabilities?.bounding).toEqual(ALL_CAPABILITIES.filter((c) => DEFAULT_CAPABILITIES.includes(c)));
    expect(spec.linux?.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(spec.linux?.readonlyPaths).toEqual([...DEFAULT_READONLY_PATHS]);
    expect(spec.linux?.resources?.devices).toEqual(defaultDeviceRules());
    expect(spec.linux?.devices).toBeUndefined();
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.process?.apparmorProfile).toBeUndefined();
  });

  it('joins the pod network (pinned netns), IPC and UTS namespaces, with its own PID and mount namespaces', () => {
    expect(spec.linux?.namespaces).toEqual([
      { type: 'mount' },
      { type: 'pid' },
      { type: 'ipc', path: `/proc/${PAUSE_PID}/ns/ipc` },
      { type: 'uts', path: `/proc/${PAUSE_PID}/ns/uts` },
      { type: 'network', path: NETNS },
    ]);
  });

  it('mounts the pod files and /dev/shm after the defaults', () => {
    expect(spec.mounts?.map((m) => m.destination)).toEqual([
      '/proc',
      '/dev',
      '/dev/pts',
      '/dev/mqueue',
      '/sys',
      '/sys/fs/cgroup',
      '/etc/hostname',
      '/etc/hosts',
      '/etc/resolv.conf',
      '/dev/shm',
    ]);
    expect(mountAt(spec, '/etc/hosts')).toEqual([{ destination: '/etc/hosts', type: 'bind', source: FILES.hosts, options: ['rbind', 'rprivate', 'rw'] }]);
    expect(mountAt(spec, '/etc/hostname')[0]?.source).toBe(FILES.hostname);
    expect(mountAt(spec, '/etc/resolv.conf')[0]?.source).toBe(FILES.resolvConf);
    expect(mountAt(spec, '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'bind', source: SHM, options: ['rbind', 'rprivate', 'rw'] }]);
    expect(spec.linux?.rootfsPropagation).toBeUndefined();
  });

  it('lives in the pod cgroup', () => {
    expect(spec.linux?.cgroupsPath).toBe(`/kubepods/besteffort/podb7a1c2d3/${ID}`);
  });

  it('is plain JSON (no bigints, no undefined values)', () => {
    const json = JSON.stringify(spec);
    expect(JSON.parse(json)).toEqual(spec);
    expect(json).not.toContain('undefined');
  });
});

describe('process args: command replaces ENTRYPOINT, args replace CMD', () => {
  const EP = ['/entry'];
  const CMD = ['default', 'cmd'];
  it.each([
    ['neither: ENTRYPOINT + CMD', [], [], EP, CMD, ['/entry', 'default', 'cmd']],
    ['command only: CMD dropped too', ['/bin/sh'], [], EP, CMD, ['/bin/sh']],
    ['args only: ENTRYPOINT + args', [], ['-x'], EP, CMD, ['/entry', '-x']],
    ['both: command + args', ['/bin/sh'], ['-c', 'true'], EP, CMD, ['/bin/sh', '-c', 'true']],
    ['no ENTRYPOINT: CMD', [], [], [], CMD, ['default', 'cmd']],
    ['no ENTRYPOINT, args: args', [], ['echo', 'hi'], [], CMD, ['echo', 'hi']],
    ['ENTRYPOINT [""] means none', [], [], [''], CMD, ['default', 'cmd']],
  ])('%s', (_name, command, args, entrypoint, cmd, expected) => {
    expect(containerArgs({ command, args }, { entrypoint, cmd })).toEqual(expected);
    expect(build({ command, args }, { image: { entrypoint, cmd } }).process?.args).toEqual(expected);
  });

  it.each([
    ['nothing at all', [], []],
    ['ENTRYPOINT [""] and no CMD', [''], []],
  ])('no command is INVALID_ARGUMENT: %s', (_name, entrypoint, cmd) => {
    expect(error(() => build({}, { image: { entrypoint, cmd } }))).toMatch(/^no command specified/);
  });
});

describe('process env', () => {
  it('request env overrides the image env by key, in place; new keys are appended', () => {
    const spec = build({ envs: [env('PKG_RELEASE', '2'), env('EXTRA', 'x=y'), env('PATH', '/bin')] });
    expect(spec.process?.env).toEqual(['PATH=/bin', 'HOSTNAME=web-0', 'NGINX_VERSION=1.25.3', 'PKG_RELEASE=2', 'EXTRA=x=y']);
  });

  it('decodes values as UTF-8 bytes (KeyValue.value is bytes)', () => {
    const spec = build({ envs: [env('GREETING', Buffer.from([0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f])), env('EMPTY', '')] });
    expect(spec.process?.env).toContain('GREETING=héllo');
    expect(spec.process?.env).toContain('EMPTY=');
  });

  it('adds PATH when the image has none, and lets the request set HOSTNAME', () => {
    const spec = build({ envs: [env('HOSTNAME', 'custom')] }, { image: { env: ['A=1'] } });
    expect(spec.process?.env).toEqual([DEFAULT_PATH_ENV, 'HOSTNAME=custom', 'A=1']);
  });

  it('HOSTNAME is the node name for host-network pods and pods without a hostname', () => {
    expect(build({}, { pod: { hostname: 'x', linux: { securityContext: { namespaceOptions: { network: NODE } } } } }).process?.env).toContain('HOSTNAME=node-1');
    expect(build({}, { pod: { hostname: '' } }).process?.env).toContain('HOSTNAME=node-1');
  });

  it.each([
    [[env('A', Buffer.from([0xff, 0xfe]))], /envs\[0\] \(A\): the value is not valid UTF-8/],
    [[env('', 'x')], /invalid variable name ""/],
    [[env('A=B', 'x')], /invalid variable name "A=B"/],
    [[env('A', 'x\0y')], /NUL/],
  ])('rejects bad env %#', (envs, message) => {
    expect(error(() => build({ envs }))).toMatch(message);
  });

  it('mergeEnv: a bare KEY unsets, duplicates in the base collapse', () => {
    expect(mergeEnv(['A=1', 'B=2', 'A=3'], ['B', 'C=4', 'B=5'])).toEqual(['A=3', 'C=4', 'B=5']);
  });
});

describe('process cwd, tty, no_new_privs', () => {
  it.each([
    ['request working_dir', '/srv', '/app', '/srv'],
    ['image WorkingDir', '', '/app', '/app'],
    ['relative image WorkingDir', '', 'app', '/app'],
    ['neither', '', '', '/'],
  ])('%s', (_name, workingDir, imageWd, expected) => {
    expect(build({ workingDir }, { image: { workingDir: imageWd } }).process?.cwd).toBe(expected);
  });

  it('rejects a relative working_dir', () => {
    expect(error(() => build({ workingDir: 'srv' }))).toMatch(/working_dir "srv" is not an absolute path/);
  });

  it('tty sets terminal; no_new_privs sets noNewPrivileges', () => {
    const spec = build({ tty: true, stdin: true, linux: { securityContext: { noNewPrivs: true } } });
    expect(spec.process?.terminal).toBe(true);
    expect(spec.process?.noNewPrivileges).toBe(true);
  });
});

describe('process user', () => {
  type Sc = NonNullable<NonNullable<ContainerOverrides['linux']>['securityContext']>;
  it.each<[string, Sc, string, { uid: number; gid: number; additionalGids: number[] }]>([
    ['image user unset: root', {}, '', { uid: 0, gid: 0, additionalGids: [0] }],
    ['image User name with its groups', {}, 'app', { uid: 1000, gid: 1000, additionalGids: [44, 50, 1000] }],
    ['image User name:group', {}, 'web:staff', { uid: 33, gid: 50, additionalGids: [44, 50] }],
    ['image User uid:gid', {}, '1234:5678', { uid: 1234, gid: 5678, additionalGids: [5678] }],
    ['run_as_user overrides the image user; gid from passwd', { runAsUser: { value: 1000n } }, 'web', { uid: 1000, gid: 1000, additionalGids: [44, 50, 1000] }],
    ['run_as_user without a passwd entry: gid 0', { runAsUser: { value: 4321n } }, '', { uid: 4321, gid: 0, additionalGids: [0] }],
    ['run_as_username resolved from passwd', { runAsUsername: 'web' }, '', { uid: 33, gid: 33, additionalGids: [33, 44] }],
    ['run_as_group', { runAsUser: { value: 1000n }, runAsGroup: { value: 2000n } }, '', { uid: 1000, gid: 2000, additionalGids: [44, 50, 2000] }],
    ['supplemental groups merged', { runAsUser: { value: 1000n }, supplementalGroups: [7n, 50n] }, '', { uid: 1000, gid: 1000, additionalGids: [7, 44, 50, 1000] }],
    [
      'policy Strict: no image groups',
      { runAsUser: { value: 1000n }, supplementalGroups: [7n], supplementalGroupsPolicy: cri.SupplementalGroupsPolicy.Strict },
      '',
      { uid: 1000, gid: 1000, additionalGids: [7, 1000] },
    ],
  ])('%s', (_name, securityContext, imageUser, expected) => {
    const spec = build({ linux: { securityContext } }, { image: { user: imageUser } });
    expect(spec.process?.user).toEqual(expected);
    const reported = containerUser(containerConfig({ linux: { securityContext } }), imageUser, { passwd: PASSWD, group: GROUP });
    expect({ uid: reported.uid, gid: reported.gid, additionalGids: reported.additionalGids }).toEqual(expected);
  });

  it.each<[string, Sc, string, RegExp]>([
    ['run_as_group alone', { runAsGroup: { value: 5n } }, '', /run_as_group 5 is set without run_as_user/],
    ['unknown user name', { runAsUsername: 'nobody' }, '', /unable to find user "nobody"/],
    ['unknown image user', {}, 'ghost', /unable to find user "ghost"/],
    ['both user fields', { runAsUser: { value: 1n }, runAsUsername: 'app' }, '', /cannot both be set/],
  ])('rejects %s', (_name, securityContext, imageUser, message) => {
    expect(error(() => build({ linux: { securityContext } }, { image: { user: imageUser } }))).toMatch(message);
  });

  it('a user name without the image /etc/passwd is an error', () => {
    expect(error(() => build({}, { image: { user: 'app' }, input: { etcFiles: {} } }))).toMatch(/has no \/etc\/passwd/);
  });
});

describe('mounts', () => {
  it.each([
    [PROPAGATION_PRIVATE, 'rprivate', undefined],
    [PROPAGATION_HOST_TO_CONTAINER, 'rslave', 'rslave'],
    [PROPAGATION_BIDIRECTIONAL, 'rshared', 'rshared'],
  ])('propagation %p → %s, rootfs %p', (propagation, option, rootfs) => {
    const spec = build({ mounts: [mount({ containerPath: '/data', hostPath: '/srv/data', propagation })] });
    expect(mountAt(spec, '/data')).toEqual([{ destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', option, 'rw'] }]);
    expect(spec.linux?.rootfsPropagation).toBe(rootfs);
  });

  it('rshared wins over rslave for the rootfs, in either order', () => {
    const a = mount({ containerPath: '/a', hostPath: '/a', propagation: PROPAGATION_BIDIRECTIONAL });
    const b = mount({ containerPath: '/b', hostPath: '/b', propagation: PROPAGATION_HOST_TO_CONTAINER });
    expect(build({ mounts: [a, b] }).linux?.rootfsPropagation).toBe('rshared');
    expect(build({ mounts: [b, a] }).linux?.rootfsPropagation).toBe('rshared');
  });

  it('readonly → ro; trailing slashes and dots in paths are cleaned', () => {
    const spec = build({ mounts: [mount({ containerPath: '/etc/config/./', hostPath: '/var/lib/kubelet/pods/x//config', readonly: true })] });
    expect(mountAt(spec, '/etc/config')).toEqual([
      { destination: '/etc/config', type: 'bind', source: '/var/lib/kubelet/pods/x/config', options: ['rbind', 'rprivate', 'ro'] },
    ]);
  });

  it('a request mount of /etc/hosts (as kubelet sends) replaces the pod file: no duplicate', () => {
    const spec = build({ mounts: [mount({ containerPath: '/etc/hosts', hostPath: '/var/lib/kubelet/pods/x/etc-hosts' })] });
    expect(mountAt(spec, '/etc/hosts')).toEqual([
      { destination: '/etc/hosts', type: 'bind', source: '/var/lib/kubelet/pods/x/etc-hosts', options: ['rbind', 'rprivate', 'rw'] },
    ]);
    expect(mountAt(spec, '/etc/resolv.conf')).toHaveLength(1);
  });

  it('readonly_rootfs makes the rootfs and the pod files read-only, not /dev/shm', () => {
    const spec = build({ linux: { securityContext: { readonlyRootfs: true } } });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    for (const f of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) expect(mountAt(spec, f)[0]?.options).toEqual(['rbind', 'rprivate', 'ro']);
    expect(mountAt(spec, '/dev/shm')[0]?.options).toEqual(['rbind', 'rprivate', 'rw']);
  });

  it('host IPC binds the host /dev/shm; without a pod shm the default tmpfs stays', () => {
    const hostIpc = build({}, { pod: { linux: { securityContext: { namespaceOptions: { network: POD, ipc: NODE } } } } });
    expect(mountAt(hostIpc, '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] }]);
    const noShm = buildContainerSpec({ ...input(), sandbox: { ...input().sandbox, devShmPath: undefined } });
    expect(mountAt(noShm, '/dev/shm')).toEqual([expect.objectContaining({ type: 'tmpfs' })]);
  });

  it('sorts bind mounts so parents come first (stable within a depth), after the defaults', () => {
    const spec = build({
      mounts: [
        mount({ containerPath: '/a/b/c', hostPath: '/h/abc' }),
        mount({ containerPath: '/z', hostPath: '/h/z' }),
        mount({ containerPath: '/a', hostPath: '/h/a' }),
        mount({ containerPath: '/a/b', hostPath: '/h/ab' }),
        mount({ containerPath: '/y', hostPath: '/h/y' }),
      ],
    });
    const binds = spec.mounts!.filter((m) => m.type === 'bind').map((m) => m.destination);
    expect(binds).toEqual(['/z', '/a', '/y', '/a/b', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/shm', '/a/b/c']);
    expect(spec.mounts!.slice(0, 6).every((m) => m.type !== 'bind')).toBe(true);
  });

  it('a request /dev or /sys mount drops the defaults at and under it', () => {
    const spec = build({ mounts: [mount({ containerPath: '/dev', hostPath: '/dev' }), mount({ containerPath: '/sys', hostPath: '/sys' })] });
    expect(spec.mounts!.filter((m) => m.type !== 'bind').map((m) => m.destination)).toEqual(['/proc']);
  });

  it('image VOLUMEs not covered by a request mount get a directory of their own', () => {
    const config = { mounts: [mount({ containerPath: '/var/lib/mysql/', hostPath: '/pv/mysql' })] };
    const image = { volumes: ['/var/lib/mysql', '/var/log/mysql', 'relative', '/var/log/mysql/'] };
    const spec = build(config, { image });
    expect(mountAt(spec, '/var/lib/mysql')).toEqual([expect.objectContaining({ source: '/pv/mysql' })]);
    expect(mountAt(spec, '/var/log/mysql')).toEqual([
      { destination: '/var/log/mysql', type: 'bind', source: `/var/lib/crisp/containers/${ID}/volumes/var/log/mysql`, options: ['rbind', 'rprivate', 'rw'] },
    ]);
    expect(mountAt(spec, '/relative')).toHaveLength(1);
    expect(uncoveredImageVolumes(containerConfig(config), image.volumes)).toEqual(['/var/log/mysql', '/relative']);
    expect(containerHostPaths({ ...input(config, { image }) })).toEqual({
      mountSources: ['/pv/mysql'],
      volumeDirs: [`/var/lib/crisp/containers/${ID}/volumes/var/log/mysql`, `/var/lib/crisp/containers/${ID}/volumes/relative`],
    });
  });

  it('resolves host paths through the caller (symlinks)', () => {
    const spec = build({ mounts: [mount({ containerPath: '/data', hostPath: '/link' })] }, { input: { resolveHostPath: (p) => (p === '/link' ? '/real' : p) } });
    expect(mountAt(spec, '/data')[0]?.source).toBe('/real');
  });

  it('checks the source mount propagation when told how it is mounted', () => {
    const mounts = [mount({ containerPath: '/data', hostPath: '/mnt/data', propagation: PROPAGATION_BIDIRECTIONAL })];
    const mountSource = (): { mountPoint: string; shared: boolean; slave: boolean } => ({ mountPoint: '/', shared: false, slave: true });
    expect(error(() => build({ mounts }, { input: { mountSource } }), Status.FAILED_PRECONDITION)).toMatch(
      /path \/mnt\/data is mounted on \/ but it is not a shared mount/,
    );
    const h2c = [mount({ containerPath: '/data', hostPath: '/mnt/data', propagation: PROPAGATION_HOST_TO_CONTAINER })];
    expect(() => build({ mounts: h2c }, { input: { mountSource } })).not.toThrow();
    const privateSource = (): { mountPoint: string; shared: boolean; slave: boolean } => ({ mountPoint: '/mnt', shared: false, slave: false });
    expect(error(() => build({ mounts: h2c }, { input: { mountSource: privateSource } }), Status.FAILED_PRECONDITION)).toMatch(/not a shared or slave mount/);
  });

  it('recursive read-only: refused on this runtime, "rro" where supported, only with readonly and private propagation', () => {
    const rro = mount({ containerPath: '/ro', hostPath: '/srv', readonly: true, recursiveReadOnly: true });
    expect(error(() => build({ mounts: [rro] }))).toMatch(/mounts\[0\] \(\/ro\): RRO is not supported/);
    expect(mountAt(build({ mounts: [rro] }, { input: { recursiveReadOnlyMounts: true } }), '/ro')[0]?.options).toEqual(['rbind', 'rprivate', 'rro']);
    expect(error(() => build({ mounts: [{ ...rro, readonly: false }] }, { input: { recursiveReadOnlyMounts: true } }))).toMatch(/needs readonly/);
    expect(error(() => build({ mounts: [{ ...rro, propagation: PROPAGATION_HOST_TO_CONTAINER }] }, { input: { recursiveReadOnlyMounts: true } }))).toMatch(
      /needs propagation PROPAGATION_PRIVATE/,
    );
  });

  it.each([
    [{ containerPath: 'data', hostPath: '/srv' }, /mounts\[0\]: container_path "data" is not an absolute path/],
    [{ containerPath: '', hostPath: '/srv' }, /container_path is empty/],
    [{ containerPath: '/', hostPath: '/srv' }, /cannot mount over the container's root/],
    [{ containerPath: '/data', hostPath: '' }, /host_path is empty/],
    [{ containerPath: '/data', hostPath: 'srv' }, /host_path "srv" is not an absolute path/],
    [{ containerPath: '/data', hostPath: '/srv', propagation: 7 as cri.MountPropagation }, /unknown propagation 7/],
    [{ containerPath: '/data', hostPath: '', image: { image: 'sha256:abc' } }, /image volume mounts .* are not supported/],
    [{ containerPath: '/data', hostPath: '/srv', uidMappings: [{ hostId: 1000, containerId: 0, length: 1 }] }, /id-mapped mounts are not supported/],
  ])('rejects mount %p', (m, message) => {
    expect(error(() => build({ mounts: [mount(m as Partial<cri.Mount>)] }))).toMatch(message);
  });

  it('rejects two mounts on one destination', () => {
    const mounts = [mount({ containerPath: '/data', hostPath: '/a' }), mount({ containerPath: '/data/', hostPath: '/b' })];
    expect(error(() => build({ mounts }))).toMatch(/mounts\[1\]: container_path \/data is also the destination of mounts\[0\]/);
  });
});

describe('devices', () => {
  const NULL: HostDevice = { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 };
  const SND: HostDevice[] = [
    { path: '/dev/snd/controlC0', type: 'c', major: 116, minor: 2, fileMode: 0o660, uid: 0, gid: 29 },
    { path: '/dev/snd/by-x/pcm', type: 'c', major: 116, minor: 3, fileMode: 0o660, uid: 0, gid: 29 },
  ];
  const SDA: HostDevice = { path: '/dev/disk/by-id/ata-1', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 };
  const lookup = (p: string): HostDevice[] | undefined =>
    ({ '/dev/null': [NULL], '/dev/snd': SND, '/dev/disk/by-id/ata-1': [{ ...SDA }] })[p];

  it('adds each requested device and a cgroup rule with its permissions', () => {
    const spec = build(
      {
        devices: [
          { hostPath: '/dev/null', containerPath: '/dev/mynull', permissions: 'rw' },
          { hostPath: '/dev/disk/by-id/ata-1', containerPath: '', permissions: 'mrw' },
        ],
      },
      { input: { deviceLookup: lookup } },
    );
    expect(spec.linux?.devices).toEqual([
      { path: '/dev/mynull', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/disk/by-id/ata-1', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
    ]);
    expect(spec.linux?.resources?.devices).toEqual([
      ...defaultDeviceRules(),
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
      { allow: true, type: 'b', major: 8, minor: 0, access: 'rwm' },
    ]);
  });

  it('maps a directory of devices under the container path', () => {
    const spec = build({ devices: [{ hostPath: '/dev/snd', containerPath: '/dev/sound', permissions: '' }] }, { input: { deviceLookup: lookup } });
    expect(spec.linux?.devices?.map((d) => d.path)).toEqual(['/dev/sound/controlC0', '/dev/sound/by-x/pcm']);
    expect(spec.linux?.resources?.devices?.slice(-2).map((r) => r.access)).toEqual(['rwm', 'rwm']);
  });

  it.each([
    [{ hostPath: '/dev/nope', containerPath: '/dev/nope', permissions: 'rw' }, Status.NOT_FOUND, /device \/dev\/nope does not exist/],
    [{ hostPath: '/dev/null', containerPath: '/dev/null', permissions: 'rwx' }, Status.INVALID_ARGUMENT, /invalid permissions "rwx"/],
    [{ hostPath: 'dev/null', containerPath: '/dev/null', permissions: 'rw' }, Status.INVALID_ARGUMENT, /host_path "dev\/null" is not an absolute path/],
    [{ hostPath: '/dev/null', containerPath: 'null', permissions: 'rw' }, Status.INVALID_ARGUMENT, /container_path "null" is not an absolute path/],
  ])('rejects %p', (device, code, message) => {
    expect(error(() => build({ devices: [device] }, { input: { deviceLookup: lookup } }), code)).toMatch(message);
  });

  it('deviceAccess orders and validates permissions', () => {
    expect(deviceAccess('mwr')).toBe('rwm');
    expect(deviceAccess('')).toBe('rwm');
    expect(deviceAccess('r')).toBe('r');
  });

  it('devNumbers decodes dev_t (small and large numbers)', () => {
    expect(devNumbers(0x0103)).toEqual({ major: 1, minor: 3 });
    // major 259 minor 65536: makedev = (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
    expect(devNumbers((0n & 0xffn) | (259n << 8n) | ((65536n & ~0xffn) << 12n))).toEqual({ major: 259, minor: 65536 });
  });

  it('reads host devices: /dev/null, a missing path, a directory', async () => {
    expect(await readHostDevices('/dev/null')).toEqual([expect.objectContaining({ path: '/dev/null', type: 'c', major: 1, minor: 3 })]);
    expect(await readHostDevices('/dev/does-not-exist')).toBeUndefined();
    await expect(readHostDevices('/etc/hostname')).rejects.toThrow(/neither a device nor a directory/);
    const all = (await readHostDevices())!;
    expect(all).toContainEqual(expect.objectContaining({ path: '/dev/null', type: 'c' }));
    expect(all.some((d) => d.path.startsWith('/dev/pts/') || d.path.startsWith('/dev/shm/') || d.path === '/dev/console')).toBe(false);
    const lookup2 = await readHostDeviceLookup(['/dev/zero', '/dev/zero']);
    expect(lookup2('/dev/zero')).toEqual([expect.objectContaining({ major: 1, minor: 5 })]);
  });
});

describe('privileged', () => {
  const HOST: HostDevice[] = [
    { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    { path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
  ];
  const privPod: PodOverrides = { linux: { securityContext: { privileged: true } } };
  const spec = build(
    { linux: { securityContext: { privileged: true, seccomp: { profileType: cri.SecurityProfile_ProfileType.RuntimeDefault } } } },
    { pod: privPod, input: { hostDevices: HOST, ownCapabilities: ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_NET_ADMIN'] } },
  );

  it('gets every capability crisp holds, all host devices and an allow-all device cgroup', () => {
    expect(spec.process?.capabilities?.bounding).toEqual(['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN']);
    expect(spec.linux?.devices?.map((d) => d.path)).toEqual(['/dev/null', '/dev/sda']);
    expect(spec.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
  });

  it('has no masked or read-only paths and no seccomp, with writable /sys and cgroupfs', () => {
    expect(spec.linux?.maskedPaths).toBeUndefined();
    expect(spec.linux?.readonlyPaths).toBeUndefined();
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(mountAt(spec, '/sys')[0]?.options).toContain('rw');
    expect(mountAt(spec, '/sys/fs/cgroup')[0]?.options).not.toContain('ro');
  });

  it('a requested device keeps its container path next to the host ones', () => {
    const s = build(
      { devices: [{ hostPath: '/dev/null', containerPath: '/dev/sda', permissions: 'r' }], linux: { securityContext: { privileged: true } } },
      { pod: privPod, input: { hostDevices: HOST, deviceLookup: () => [HOST[0]!] } },
    );
    expect(s.linux?.devices).toEqual([
      { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
      { path: '/dev/sda', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
    ]);
  });

  it('needs a privileged pod, and the host devices', () => {
    expect(error(() => build({ linux: { securityContext: { privileged: true } } }, { input: { hostDevices: HOST } }))).toMatch(
      /privileged container needs a privileged pod sandbox/,
    );
    expect(error(() => build({ linux: { securityContext: { privileged: true } } }, { pod: privPod }), Status.INTERNAL)).toMatch(/host's devices/);
  });
});

describe('namespaces', () => {
  const P = `/proc/${PAUSE_PID}/ns`;
  it.each<[string, cri.NamespaceMode, cri.NamespaceMode, Record<string, string | undefined>]>([
    ['POD joins the pause PID namespace', POD, POD, { mount: undefined, pid: `${P}/pid`, ipc: `${P}/ipc`, uts: `${P}/uts`, network: NETNS }],
    ['CONTAINER gets its own', CONTAINER, CONTAINER, { mount: undefined, pid: undefined, ipc: `${P}/ipc`, uts: `${P}/uts`, network: NETNS }],
    ['NODE uses the host one', NODE, NODE, { mount: undefined, ipc: `${P}/ipc`, uts: `${P}/uts`, network: NETNS }],
    ['POD in a host-PID pod is the host one', NODE, POD, { mount: undefined, ipc: `${P}/ipc`, uts: `${P}/uts`, network: NETNS }],
    ['TARGET joins the target', CONTAINER, TARGET, { mount: undefined, pid: '/proc/777/ns/pid', ipc: `${P}/ipc`, uts: `${P}/uts`, network: NETNS }],
  ])('pid: %s', (_name, podPid, pid, expected) => {
    const spec = build(
      { linux: { securityContext: { namespaceOptions: { network: POD, ipc: POD, pid, targetId: pid === TARGET ? 'target-ctr' : '' } } } },
      { pod: { linux: { securityContext: { namespaceOptions: { network: POD, ipc: POD, pid: podPid } } } }, input: { targetPid: 777 } },
    );
    expect(nsOf(spec)).toEqual(expected);
    // A PID namespace is joined or new, never both.
    expect(spec.linux?.namespaces?.filter((n) => n.type === 'pid').length ?? 0).toBeLessThanOrEqual(1);
  });

  it('host network: no network or UTS namespace; host IPC: no IPC namespace', () => {
    const pod: PodOverrides = { hostname: '', linux: { securityContext: { namespaceOptions: { network: NODE, ipc: NODE, pid: CONTAINER } } } };
    expect(nsOf(build({}, { pod }))).toEqual({ mount: undefined, pid: undefined });
    const hostNetOnly: PodOverrides = { linux: { securityContext: { namespaceOptions: { network: NODE, ipc: POD } } } };
    expect(nsOf(build({}, { pod: hostNetOnly }))).toEqual({ mount: undefined, pid: undefined, ipc: `${P}/ipc` });
  });

  it('follows the pod for network and IPC even when the container says otherwise', () => {
    const spec = build({ linux: { securityContext: { namespaceOptions: { network: NODE, ipc: NODE, pid: CONTAINER } } } });
    expect(nsOf(spec)).toEqual({ mount: undefined, pid: undefined, ipc: `${P}/ipc`, uts: `${P}/uts`, network: NETNS });
  });

  it('without a pinned netns joins the pause network namespace; container without options follows the pod PID mode', () => {
    const i = input();
    const spec = buildContainerSpec({ ...i, config: cri.ContainerConfig.fromPartial({ command: ['/x'] }), sandbox: { ...i.sandbox, netnsPath: undefined } });
    expect(nsOf(spec)).toEqual({ mount: undefined, pid: undefined, ipc: `${P}/ipc`, uts: `${P}/uts`, network: `${P}/net` });
  });

  it('adds a cgroup namespace on cgroup v2 (not for privileged containers)', () => {
    expect(nsOf(build({}, { input: { resourceSupport: { swap: true, hugetlb: true, cgroupV2: true } } }))).toHaveProperty('cgroup');
  });

  it.each<[string, Partial<cri.NamespaceOption>, Partial<ContainerSpecInput>, Status, RegExp]>([
    ['TARGET without target_id', { pid: TARGET }, { targetPid: 777 }, Status.INVALID_ARGUMENT, /TARGET needs target_id/],
    ['TARGET without a resolved pid', { pid: TARGET, targetId: 'x' }, {}, Status.INTERNAL, /no pid was resolved for target container x/],
    ['unknown pid mode', { pid: 9 as cri.NamespaceMode }, {}, Status.INVALID_ARGUMENT, /unknown pid namespace mode 9/],
    [
      'user namespace with mappings',
      { usernsOptions: { mode: POD, uids: [{ hostId: 100000, containerId: 0, length: 65536 }], gids: [] } },
      {},
      Status.INVALID_ARGUMENT,
      /user namespaces .* are not supported/,
    ],
  ])('rejects %s', (_name, namespaceOptions, extra, code, message) => {
    expect(error(() => build({ linux: { securityContext: { namespaceOptions: { network: POD, ipc: POD, ...namespaceOptions } } } }, { input: extra }), code)).toMatch(
      message,
    );
  });

  it('needs the pause pid to join the pod namespaces', () => {
    const i = input();
    expect(error(() => buildContainerSpec({ ...i, sandbox: { ...i.sandbox, pid: 0 } }), Status.INTERNAL)).toMatch(/no pause process pid/);
  });
});

describe('resources and cgroups', () => {
  it('maps CPU and memory, clamps oom_score_adj to crisp own', () => {
    const spec = build({
      linux: { resources: { cpuShares: 512n, cpuQuota: 50000n, cpuPeriod: 100000n, memoryLimitInBytes: 268435456n, cpusetCpus: '0-1', oomScoreAdj: -1000n } },
    });
    expect(spec.linux?.resources?.cpu).toEqual({ shares: 512, quota: 50000, period: 100000, cpus: '0-1' });
    expect(spec.linux?.resources?.memory).toEqual({ limit: 268435456, swap: 268435456 });
    expect(spec.linux?.resources?.devices).toEqual(defaultDeviceRules());
    expect(spec.process?.oomScoreAdj).toBe(-999);
    expect(build({ linux: { resources: { oomScoreAdj: 1000n } } }).process?.oomScoreAdj).toBe(1000);
  });

  it('rejects invalid resources', () => {
    expect(error(() => build({ linux: { resources: { cpuShares: 1n } } }))).toMatch(/resources.cpu_shares must be between/);
    expect(error(() => build({ linux: { resources: { oomScoreAdj: 1001n } } }))).toMatch(/oom_score_adj must be between -1000 and 1000/);
  });

  it.each([
    ['cgroupfs', '/kubepods/burstable/pod1', `/kubepods/burstable/pod1/${ID}`],
    ['cgroupfs', '', `/k8s.io/${ID}`],
    ['systemd', 'kubepods-burstable-pod1.slice', `kubepods-burstable-pod1.slice:crisp:${ID}`],
  ] as const)('cgroupsPath with %s and parent %p', (cgroupDriver, cgroupParent, expected) => {
    expect(build({}, { pod: { linux: { cgroupParent } }, input: { cgroupDriver } }).linux?.cgroupsPath).toBe(expected);
  });
});

describe('annotations', () => {
  it('sets the CRI annotations and passes the container annotations through, minus reserved prefixes', () => {
    const spec = build({
      annotations: { 'io.kubernetes.container.hash': 'abc', 'run.oci.keep_original_groups': '1', 'io.kubernetes.cri.sandbox-id': 'forged' },
    });
    expect(spec.annotations).toEqual({
      'io.kubernetes.container.hash': 'abc',
      [ANNOTATION_CONTAINER_TYPE]: 'container',
      [ANNOTATION_SANDBOX_ID]: SB,
      [ANNOTATION_SANDBOX_NAME]: 'web-0',
      [ANNOTATION_SANDBOX_NAMESPACE]: 'default',
      [ANNOTATION_SANDBOX_UID]: 'b7a1c2d3-0000-4000-8000-000000000001',
      [ANNOTATION_CONTAINER_NAME]: 'nginx',
      [ANNOTATION_IMAGE_NAME]: 'docker.io/library/nginx:1.25',
    });
  });

  it('image name: the caller may give it; else the request image', () => {
    expect(build({}, { input: { imageName: 'nginx:latest' } }).annotations?.[ANNOTATION_IMAGE_NAME]).toBe('nginx:latest');
    expect(build({ image: { image: 'busybox' } }).annotations?.[ANNOTATION_IMAGE_NAME]).toBe('busybox');
  });
});

describe('security: seccomp, capabilities, AppArmor, masked paths', () => {
  const { RuntimeDefault, Unconfined, Localhost } = cri.SecurityProfile_ProfileType;
  const LOCAL: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };

  it.each<[string, Partial<cri.SecurityProfile> | undefined, string, 'default' | 'none' | 'local']>([
    ['RuntimeDefault', { profileType: RuntimeDefault }, '', 'default'],
    ['Unconfined', { profileType: Unconfined }, '', 'none'],
    ['Localhost', { profileType: Localhost, localhostRef: '/var/lib/kubelet/seccomp/p.json' }, '', 'local'],
    ['deprecated runtime/default', undefined, 'runtime/default', 'default'],
    ['nothing', undefined, '', 'none'],
  ])('seccomp %s', (_name, seccomp, seccompProfilePath, expected) => {
    const config = { linux: { securityContext: { ...(seccomp ? { seccomp } : {}), seccompProfilePath } } };
    const spec = build(config, { input: { localhostSeccomp: LOCAL } });
    if (expected === 'none') expect(spec.linux?.seccomp).toBeUndefined();
    if (expected === 'local') expect(spec.linux?.seccomp).toEqual(LOCAL);
    if (expected === 'default') {
      expect(spec.linux?.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
      expect(spec.linux?.seccomp?.syscalls?.length).toBeGreaterThan(1);
    }
  });

  it('a Localhost profile may be given as the file text; a missing one is a caller bug', () => {
    const seccomp = { profileType: Localhost, localhostRef: '/p.json' };
    expect(containerSeccompChoice(containerConfig({ linux: { securityContext: { seccomp } } }))).toEqual({ kind: 'localhost', path: '/p.json' });
    const spec = build({ linux: { securityContext: { seccomp } } }, { input: { localhostSeccomp: JSON.stringify({ defaultAction: 'SCMP_ACT_LOG' }) } });
    expect(spec.linux?.seccomp).toEqual({ defaultAction: 'SCMP_ACT_LOG' });
    expect(error(() => build({ linux: { securityContext: { seccomp } } }), Status.INTERNAL)).toMatch(/profile \/p.json was not loaded/);
  });

  it('the default profile allows what added capabilities need', () => {
    const spec = build({
      linux: { securityContext: { capabilities: { addCapabilities: ['SYS_ADMIN'] }, seccomp: { profileType: RuntimeDefault } } },
    });
    const allowed = (spec.linux?.seccomp?.syscalls ?? []).filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names);
    expect(allowed).toContain('mount');
  });

  it.each([
    [['NET_ADMIN'], ['KILL'], (c: string[]) => c.includes('CAP_NET_ADMIN') && !c.includes('CAP_KILL')],
    [['ALL'], ['SYS_ADMIN'], (c: string[]) => c.includes('CAP_SYS_PTRACE') && !c.includes('CAP_SYS_ADMIN')],
    [[], ['ALL'], (c: string[]) => c.length === 0],
    [['cap_sys_time'], [], (c: string[]) => c.includes('CAP_SYS_TIME')],
  ])('capabilities add %p drop %p', (addCapabilities, dropCapabilities, check) => {
    const spec = build({ linux: { securityContext: { capabilities: { addCapabilities, dropCapabilities } } } });
    const caps = spec.process?.capabilities;
    expect(check(caps?.bounding ?? [])).toBe(true);
    expect(caps?.effective).toEqual(caps?.bounding);
    expect(caps?.permitted).toEqual(caps?.bounding);
  });

  it('refuses capabilities crisp does not hold and unknown ones', () => {
    const own = [...DEFAULT_CAPABILITIES];
    expect(error(() => build({ linux: { securityContext: { capabilities: { addCapabilities: ['SYS_RESOURCE'] } } } }, { input: { ownCapabilities: own } }))).toMatch(
      /CAP_SYS_RESOURCE cannot be granted/,
    );
    expect(error(() => build({ linux: { securityContext: { capabilities: { addCapabilities: ['FLY'] } } } }))).toMatch(/unknown capability to add "FLY"/);
  });

  it('refuses a Localhost AppArmor profile on a node without AppArmor; ignores RuntimeDefault', () => {
    const apparmor = { profileType: Localhost, localhostRef: 'k8s-nginx' };
    expect(error(() => build({ linux: { securityContext: { apparmor } } }))).toMatch(/AppArmor is not enabled/);
    expect(build({ linux: { securityContext: { apparmor: { profileType: RuntimeDefault } } } }).process?.apparmorProfile).toBeUndefined();
    expect(build({ linux: { securityContext: { apparmor } } }, { input: { apparmorEnabled: true } }).process?.apparmorProfile).toBe('k8s-nginx');
  });

  it('masked and read-only paths from the request replace the defaults', () => {
    const spec = build({ linux: { securityContext: { maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] } } });
    expect(spec.linux?.maskedPaths).toEqual(['/proc/kcore']);
    expect(spec.linux?.readonlyPaths).toEqual(['/proc/sys']);
    expect(error(() => build({ linux: { securityContext: { maskedPaths: ['proc'] } } }))).toMatch(/masked_paths\[0\] "proc" is not an absolute path/);
  });

  it('ignores SELinux options (no SELinux on the node) and refuses CDI devices', () => {
    expect(() => build({ linux: { securityContext: { selinuxOptions: { type: 'spc_t' } } } })).not.toThrow();
    expect(error(() => build({ CDIDevices: [{ name: 'nvidia.com/gpu=0' }] }))).toMatch(/CDI devices are not supported/);
  });
});

describe('stop signal', () => {
  it.each([
    ['', cri.Signal.RUNTIME_DEFAULT, 15],
    [undefined, cri.Signal.RUNTIME_DEFAULT, 15],
    ['SIGQUIT', cri.Signal.RUNTIME_DEFAULT, 3],
    ['quit', cri.Signal.RUNTIME_DEFAULT, 3],
    ['9', cri.Signal.RUNTIME_DEFAULT, 9],
    ['SIGRTMIN+3', cri.Signal.RUNTIME_DEFAULT, 37],
    ['RTMAX-1', cri.Signal.RUNTIME_DEFAULT, 63],
    ['SIGWINCH', cri.Signal.RUNTIME_DEFAULT, 28],
    ['SIGQUIT', cri.Signal.SIGUSR1, 10],
    ['', cri.Signal.SIGRTMINPLUS1, 35],
    ['', cri.Signal.SIGRTMAXMINUS2, 62],
    ['', cri.Signal.SIGRTMAX, 64],
    ['', cri.Signal.SIGCLD, 17],
  ])('image %p, request %p → %p', (image, requested, expected) => {
    expect(stopSignalOf(image, requested)).toBe(expected);
  });

  it.each(['SIGFOO', '0', '65', 'RTMIN-1', 'RTMAX+1', 'SIGRTMIN+31'])('rejects %p', (s) => {
    expect(error(() => parseSignal(s))).toMatch(/invalid signal/);
  });

  it('names the image StopSignal that is not a signal', () => {
    expect(error(() => stopSignalOf('SIGNOPE'))).toMatch(/the image's StopSignal "SIGNOPE" is not a signal/);
    expect(error(() => stopSignalOf('', 999 as cri.Signal))).toMatch(/unknown stop_signal 999/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Under real runc: a pause-like busybox sandbox started detached from buildSandboxSpec, then a container from
// buildContainerSpec that joins its namespaces. Runs only as root with runc, a static busybox and `ip`.

const run = promisify(execFile);

(runcAvailable() ? describe : describe.skip)('container spec under runc', () => {
  const tag = `crisp-ctr-${process.pid}`;
  const sandboxId = `${tag}-pause`;
  let dir: string;
  let runcRoot: string;
  let pausePid: number;
  let files: { hostname: string; hosts: string; resolvConf: string };
  let podConfigRunc: cri.PodSandboxConfig;

  const bundle = (name: string, extraDirs: string[] = []): string => busyboxBundle(dir, name, extraDirs);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crisp-ctr-runc-'));
    runcRoot = path.join(dir, 'runc-state');
    execFileSync('ip', ['netns', 'add', tag]);
    const sbDir = path.join(dir, 'sandbox-files');
    mkdirSync(path.join(sbDir, 'shm'), { recursive: true });
    files = { hostname: path.join(sbDir, 'hostname'), hosts: path.join(sbDir, 'hosts'), resolvConf: path.join(sbDir, 'resolv.conf') };
    writeFileSync(files.hostname, 'pod-runc\n');
    writeFileSync(files.hosts, '127.0.0.1\tlocalhost\n10.1.2.3\tpod-runc\n');
    writeFileSync(files.resolvConf, 'nameserver 10.96.0.10\n');
    podConfigRunc = cri.PodSandboxConfig.fromPartial({
      metadata: { name: 'pod-runc', uid: 'uid-1', namespace: 'default' },
      hostname: 'pod-runc',
      logDirectory: '/var/log/pods/x',
      linux: {
        cgroupParent: `/${tag}`,
        securityContext: { privileged: true, namespaceOptions: { network: POD, pid: CONTAINER, ipc: POD } },
      },
    });
    const b = bundle('pause');
    const spec = buildSandboxSpec({
      id: sandboxId,
      config: podConfigRunc,
      imageConfig: { entrypoint: ['/bin/busybox'], cmd: ['sleep', '120'] },
      netnsPath: `/var/run/netns/${tag}`,
      cgroupDriver: 'cgroupfs',
      runtimeHandler: 'runc',
      ...(await hostFacts()),
    });
    writeFileSync(path.join(b, 'config.json'), JSON.stringify(spec));
    // Detached: runc hands its stdio to the container, so give it none to wait on.
    await new Promise<void>((resolve, reject) => {
      const child = spawn('runc', ['--root', runcRoot, 'run', '-d', '--bundle', b, sandboxId], { stdio: 'ignore' });
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc run -d exited ${code}`))));
    });
    const { stdout } = await run('runc', ['--root', runcRoot, 'state', sandboxId]);
    pausePid = (JSON.parse(stdout) as { pid: number }).pid;
  }, 30_000);

  afterAll(async () => {
    await run('runc', ['--root', runcRoot, 'delete', '--force', sandboxId]).catch(() => undefined);
    try {
      execFileSync('ip', ['netns', 'delete', tag]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
    removeTestCgroups(tag);
  });

  async function runContainer(name: string, over: ContainerOverrides, extra: Partial<ContainerSpecInput> = {}): Promise<string> {
    const b = bundle(name, ['work']);
    const id = `${tag}-${name}`;
    const config = containerConfig({ metadata: { name }, ...over });
    const image = { entrypoint: [], cmd: ['/bin/busybox', 'sh'], env: ['PATH=/bin', 'FROM_IMAGE=1'], workingDir: '/work', user: '', volumes: ['/vol'] };
    const base: ContainerSpecInput = {
      id,
      config,
      sandbox: { id: sandboxId, config: podConfigRunc, netnsPath: `/var/run/netns/${tag}`, pid: pausePid, files, devShmPath: path.join(path.dirname(files.hosts), 'shm') },
      imageConfig: image,
      nodeHostname: os.hostname(),
      cgroupDriver: 'cgroupfs',
      ...(await hostFacts()),
      volumeDir: (p) => path.join(dir, `${name}-volumes`, p),
      deviceLookup: await readHostDeviceLookup(config.devices.map((d) => d.hostPath)),
      ...extra,
    };
    for (const p of Object.values(containerHostPaths(base)).flat()) mkdirSync(p, { recursive: true });
    writeFileSync(path.join(b, 'config.json'), JSON.stringify(buildContainerSpec(base)));
    try {
      const { stdout } = await run('runc', ['--root', runcRoot, 'run', '--bundle', b, id], { timeout: 20_000 });
      return stdout;
    } finally {
      await run('runc', ['--root', runcRoot, 'delete', '--force', id]).catch(() => undefined);
    }
  }

  it('runs a container in the pod: user, env, cwd, namespaces, mounts, devices, resources, seccomp', async () => {
    const data = path.join(dir, 'data');
    mkdirSync(data, { recursive: true });
    writeFileSync(path.join(data, 'f'), 'from-host\n');
    const script = [
      'id',
      'echo host=$(hostname) env=$HOSTNAME img=$FROM_IMAGE req=$GREETING cwd=$(pwd)',
      'cat /etc/hosts /etc/resolv.conf /data/f',
      'ps -o pid,args | grep -q "^ *1 .*sleep 120" && echo pid=pod || echo pid=other',
      'ls -ln /dev/crisp-null',
      'grep -E "^(CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
      'echo oom=$(cat /proc/self/oom_score_adj) mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)',
      'touch /data/x 2>/dev/null && echo data=rw || echo data=ro',
      'touch /x 2>/dev/null && echo rootfs=rw || echo rootfs=ro',
      'grep -q " /vol " /proc/mounts && echo vol=mounted',
      'grep -q " /dev/shm " /proc/mounts && echo shm=mounted',
    ].join('; ');
    const out = await runContainer('app', {
      command: ['/bin/busybox', 'sh', '-c', script],
      envs: [{ key: 'GREETING', value: Buffer.from('héllo') }],
      mounts: [mount({ containerPath: '/data', hostPath: data, readonly: true })],
      devices: [{ hostPath: '/dev/null', containerPath: '/dev/crisp-null', permissions: 'rwm' }],
      linux: {
        resources: { memoryLimitInBytes: 67108864n, oomScoreAdj: 500n, cpuShares: 256n },
        securityContext: {
          namespaceOptions: { network: POD, ipc: POD, pid: POD },
          runAsUser: { value: 1000n },
          runAsGroup: { value: 1000n },
          supplementalGroups: [5n],
          readonlyRootfs: true,
          noNewPrivs: true,
          capabilities: { dropCapabilities: ['KILL'] },
          seccomp: { profileType: cri.SecurityProfile_ProfileType.RuntimeDefault },
        },
      },
    });
    expect(out).toContain('uid=1000 gid=1000 groups=5,1000');
    expect(out).toContain('host=pod-runc env=pod-runc img=1 req=héllo cwd=/work');
    expect(out).toContain('10.1.2.3\tpod-runc');
    expect(out).toContain('nameserver 10.96.0.10');
    expect(out).toContain('from-host');
    expect(out).toContain('pid=pod');
    expect(out).toMatch(/^crw-rw-rw-\s+1 0\s+0\s+1,\s+3 .*\/dev\/crisp-null$/m);
    expect(out).toMatch(/CapBnd:\s+00000000a80425db/); // the default set without CAP_KILL (bit 5)
    expect(out).toMatch(/NoNewPrivs:\s+1/);
    expect(out).toMatch(/Seccomp:\s+2/);
    expect(out).toContain('oom=500 mem=67108864');
    expect(out).toContain('data=ro');
    expect(out).toContain('rootfs=ro');
    expect(out).toContain('vol=mounted');
    expect(out).toContain('shm=mounted');
  }, 30_000);

  it('runs a privileged container with the host devices', async () => {
    const out = await runContainer(
      'priv',
      {
        command: ['/bin/busybox', 'sh', '-c', 'grep CapBnd /proc/self/status; grep Seccomp: /proc/self/status; test -c /dev/zero && echo zero=yes'],
        linux: { securityContext: { privileged: true, namespaceOptions: { network: POD, ipc: POD, pid: CONTAINER } } },
      },
      { hostDevices: (await readHostDevices())! },
    );
    const bounding = BigInt(`0x${/CapBnd:\s+([0-9a-f]+)/.exec(out)?.[1] ?? '0'}`);
    expect((bounding >> 21n) & 1n).toBe(1n); // CAP_SYS_ADMIN
    expect(out).toMatch(/Seccomp:\s+0/);
    expect(out).toContain('zero=yes');
  }, 30_000);
});
