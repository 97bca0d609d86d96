// The default Linux spec every pod sandbox and container starts from: what containerd's populateDefaultUnixSpec
// produces, as its CRI plugin then uses it (no rlimits: the CRI plugin removes containerd's RLIMIT_NOFILE 1024
// so that processes inherit the shim's limits; no /run tmpfs), plus the read-only cgroup mount and the masked
// paths kubelet itself asks for.
import type { LinuxCapabilities, LinuxDeviceCgroup, LinuxNamespace, Mount, Spec } from './types';

/**
 * The runtime-spec version written into config.json: the one runc 1.1 and containerd 1.6 are built against.
 * Every field crisp writes exists in it.
 */
export const OCI_VERSION = '1.0.2-dev';

/** The rootfs, relative to the bundle (containerd's shim mounts the snapshot there). */
export const ROOTFS_PATH = 'rootfs';

export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The capabilities of an unprivileged container (containerd's, CRI-O's and Docker's default set). */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** Paths hidden from unprivileged containers (kubelet's default list, which containerd's extends). */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
]);

/** Paths mounted read-only in unprivileged containers. */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

/** The namespaces a container gets by default: new ones of each (no user or cgroup namespace). */
export const DEFAULT_NAMESPACE_TYPES = Object.freeze(['pid', 'ipc', 'uts', 'mount', 'network'] as const);

/** Standard character devices runc creates in /dev: null, zero, full, random, urandom, tty, ptmx, pts/*. */
const STANDARD_CHAR_DEVICES: readonly [number, number | undefined][] = [
  [1, 3], // /dev/null
  [1, 5], // /dev/zero
  [1, 7], // /dev/full
  [1, 8], // /dev/random
  [1, 9], // /dev/urandom
  [5, 0], // /dev/tty
  [5, 2], // /dev/ptmx
  [136, undefined], // /dev/pts/*
];

/** Device cgroup rules: deny everything, then allow the standard character devices. */
export function defaultDeviceRules(): LinuxDeviceCgroup[] {
  return [
    { allow: false, access: 'rwm' },
    ...STANDARD_CHAR_DEVICES.map(([major, minor]): LinuxDeviceCgroup => {
      const rule: LinuxDeviceCgroup = { allow: true, type: 'c', major };
      if (minor !== undefined) rule.minor = minor;
      rule.access = 'rwm';
      return rule;
    }),
  ];
}

/** The device cgroup rule of a privileged container: every device. */
export function allowAllDeviceRules(): LinuxDeviceCgroup[] {
  return [{ allow: true, access: 'rwm' }];
}

export function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

export function defaultCapabilities(): LinuxCapabilities {
  return {
    bounding: [...DEFAULT_CAPABILITIES],
    effective: [...DEFAULT_CAPABILITIES],
    permitted: [...DEFAULT_CAPABILITIES],
  };
}

export function defaultNamespaces(): LinuxNamespace[] {
  return DEFAULT_NAMESPACE_TYPES.map((type) => ({ type }));
}

/**
 * A fresh default spec (every call returns new objects, so callers may mutate it): root process as uid 0 in
 * "/", the default capabilities (no inheritable set: CVE-2022-24769), no_new_privs, default mounts, masked and
 * read-only paths, deny-by-default devices and new pid/ipc/uts/mount/network namespaces. No cgroupsPath: the
 * builders set it from the pod's cgroup parent.
 */
export function defaultSpec(): Spec {
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [],
      env: [DEFAULT_PATH_ENV],
      cwd: '/',
      capabilities: defaultCapabilities(),
      noNewPrivileges: true,
    },
    root: { path: ROOTFS_PATH },
    mounts: defaultMounts(),
    linux: {
      resources: { devices: defaultDeviceRules() },
      namespaces: defaultNamespaces(),
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
}
