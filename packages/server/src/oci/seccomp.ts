// Seccomp: which profile a pod or container asked for (the SecurityProfile field, or the deprecated
// seccomp_profile_path string), crisp's RuntimeDefault profile, and localhost profiles (JSON files on the node,
// read by the caller: readLocalhostSeccomp in host.ts).
//
// As in containerd: no profile at all (field unset and deprecated path "") is unconfined; privileged
// containers get none; RuntimeDefault allows the syscalls of the Docker/containerd default profile, plus the
// ones each granted capability needs, and answers EPERM to the rest. crisp's default leaves out the io_uring
// syscalls (as Docker's current default does: a frequent kernel attack surface).
import { cri } from '@crisp/api';
import { invalidArgument } from '../errors';
import type { LinuxSeccomp, LinuxSyscall, SeccompAction } from './types';

export type SeccompChoice = { kind: 'unconfined' } | { kind: 'runtime-default' } | { kind: 'localhost'; path: string };

const LOCALHOST_PREFIX = 'localhost/';

function fromDeprecatedPath(path: string): SeccompChoice {
  switch (path) {
    case '':
    case 'unconfined':
      return { kind: 'unconfined' };
    case 'runtime/default':
    case 'docker/default':
      return { kind: 'runtime-default' };
    default:
      if (path.startsWith(LOCALHOST_PREFIX)) return localhost(path.slice(LOCALHOST_PREFIX.length), 'seccomp_profile_path');
      throw invalidArgument(
        `invalid seccomp_profile_path "${path}": expected "runtime/default", "unconfined" or "localhost/<absolute path>"`,
      );
  }
}

function localhost(path: string, field: string): SeccompChoice {
  if (!path.startsWith('/')) throw invalidArgument(`${field}: localhost seccomp profile "${path}" must be an absolute path`);
  if (path.split('/').includes('..')) throw invalidArgument(`${field}: localhost seccomp profile "${path}" must not contain ".."`);
  return { kind: 'localhost', path };
}

/** The profile a security context asks for; privileged processes are never filtered. */
export function seccompChoice(
  profile: cri.SecurityProfile | undefined,
  deprecatedPath: string,
  privileged: boolean,
): SeccompChoice {
  if (privileged) return { kind: 'unconfined' };
  if (!profile) return fromDeprecatedPath(deprecatedPath);
  switch (profile.profileType) {
    case cri.SecurityProfile_ProfileType.Unconfined:
    case cri.SecurityProfile_ProfileType.RuntimeDefault:
      if (profile.localhostRef !== '') {
        throw invalidArgument('seccomp: localhost_ref must only be set when profile_type is Localhost');
      }
      return profile.profileType === cri.SecurityProfile_ProfileType.Unconfined ? { kind: 'unconfined' } : { kind: 'runtime-default' };
    case cri.SecurityProfile_ProfileType.Localhost: {
      // Tolerate the old "localhost/" form here too, as containerd does.
      const ref = profile.localhostRef.startsWith(LOCALHOST_PREFIX) ? profile.localhostRef.slice(LOCALHOST_PREFIX.length) : profile.localhostRef;
      if (ref === '') throw invalidArgument('seccomp: profile_type Localhost needs localhost_ref');
      return localhost(ref, 'seccomp.localhost_ref');
    }
    default:
      throw invalidArgument(`seccomp: unknown profile_type ${String(profile.profileType)}`);
  }
}

const ACTIONS: ReadonlySet<string> = new Set<SeccompAction>([
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
]);

/**
 * Parses a localhost profile file: either an OCI linux.seccomp object, or a Docker-format profile
 * (defaultAction, architectures or archMap, syscalls with `names` or `name`); Docker-only fields are dropped.
 */
export function parseSeccompProfile(text: string, path: string): LinuxSeccomp {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`seccomp profile ${path}: invalid JSON: ${(err as Error).message}`);
  }
  const bad = (why: string): never => {
    throw invalidArgument(`seccomp profile ${path}: ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('not a JSON object');
  const o = raw as Record<string, unknown>;
  if (typeof o.defaultAction !== 'string' || !ACTIONS.has(o.defaultAction)) bad(`invalid defaultAction ${JSON.stringify(o.defaultAction)}`);
  const out: LinuxSeccomp = { defaultAction: o.defaultAction as SeccompAction };
  if (typeof o.defaultErrnoRet === 'number') out.defaultErrnoRet = o.defaultErrnoRet;

  let arches: string[] = [];
  if (Array.isArray(o.architectures)) arches = o.architectures.filter((a): a is string => typeof a === 'string');
  if (Array.isArray(o.archMap)) {
    for (const m of o.archMap as unknown[]) {
      const e = m as { architecture?: unknown; subArchitectures?: unknown };
      if (typeof e.architecture === 'string' && e.architecture === nativeArch()) {
        arches.push(e.architecture);
        if (Array.isArray(e.subArchitectures)) arches.push(...e.subArchitectures.filter((a): a is string => typeof a === 'string'));
      }
    }
  }
  if (arches.length > 0) out.architectures = [...new Set(arches)];
  if (Array.isArray(o.flags)) out.flags = o.flags.filter((f): f is string => typeof f === 'string');
  if (typeof o.listenerPath === 'string') out.listenerPath = o.listenerPath;
  if (typeof o.listenerMetadata === 'string') out.listenerMetadata = o.listenerMetadata;

  if (o.syscalls !== undefined) {
    if (!Array.isArray(o.syscalls)) bad('"syscalls" must be an array');
    out.syscalls = (o.syscalls as unknown[]).map((s, i) => {
      const e = s as Record<string, unknown>;
      const names = Array.isArray(e.names) ? e.names : typeof e.name === 'string' ? [e.name] : undefined;
      if (!names || names.length === 0 || !names.every((n) => typeof n === 'string')) bad(`syscalls[${i}]: missing names`);
      if (typeof e.action !== 'string' || !ACTIONS.has(e.action)) bad(`syscalls[${i}]: invalid action ${JSON.stringify(e.action)}`);
      const sc: LinuxSyscall = { names: names as string[], action: e.action as SeccompAction };
      if (typeof e.errnoRet === 'number') sc.errnoRet = e.errnoRet;
      if (Array.isArray(e.args) && e.args.length > 0) sc.args = e.args as LinuxSyscall['args'];
      return sc;
    });
  }
  return out;
}

/** The libseccomp architecture of this process (Docker's archMap keys). */
function nativeArch(): string {
  return NATIVE_ARCHES[process.arch]?.[0] ?? '';
}

/** Native architecture first, then the compat ones its kernel also runs (containerd's default profile arches). */
const NATIVE_ARCHES: Record<string, string[]> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  ia32: ['SCMP_ARCH_X86'],
  arm: ['SCMP_ARCH_ARM'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  ppc64: ['SCMP_ARCH_PPC64LE'],
  riscv64: ['SCMP_ARCH_RISCV64'],
};

/** Syscalls every container may make (the Docker/containerd default list without the io_uring calls). */
const ALLOWED_SYSCALLS: readonly string[] = [
  'accept', 'accept4', 'access', 'adjtimex', 'alarm', 'bind', 'brk', 'capget', 'capset', 'chdir', 'chmod', 'chown',
  'chown32', 'clock_adjtime', 'clock_adjtime64', 'clock_getres', 'clock_getres_time64', 'clock_gettime',
  'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64', 'close', 'close_range', 'connect', 'copy_file_range',
  'creat', 'dup', 'dup2', 'dup3', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait',
  'epoll_pwait2', 'epoll_wait', 'epoll_wait_old', 'eventfd', 'eventfd2', 'execve', 'execveat', 'exit', 'exit_group',
  'faccessat', 'faccessat2', 'fadvise64', 'fadvise64_64', 'fallocate', 'fanotify_mark', 'fchdir', 'fchmod', 'fchmodat',
  'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fork',
  'fremovexattr', 'fsetxattr', 'fstat', 'fstat64', 'fstatat64', 'fstatfs', 'fstatfs64', 'fsync', 'ftruncate',
  'ftruncate64', 'futex', 'futex_time64', 'futex_waitv', 'futimesat', 'getcpu', 'getcwd', 'getdents', 'getdents64',
  'getegid', 'getegid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getitimer',
  'getpeername', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid', 'getresgid32',
  'getresuid', 'getresuid32', 'getrlimit', 'get_robust_list', 'getrusage', 'getsid', 'getsockname', 'getsockopt',
  'get_thread_area', 'gettid', 'gettimeofday', 'getuid', 'getuid32', 'getxattr', 'inotify_add_watch', 'inotify_init',
  'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'ioctl', 'io_destroy', 'io_getevents', 'io_pgetevents',
  'io_pgetevents_time64', 'ioprio_get', 'ioprio_set', 'io_setup', 'io_submit', 'ipc', 'kill', 'landlock_add_rule',
  'landlock_create_ruleset', 'landlock_restrict_self', 'lchown', 'lchown32', 'lgetxattr', 'link', 'linkat', 'listen',
  'listxattr', 'llistxattr', '_llseek', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat', 'lstat64', 'madvise',
  'membarrier', 'memfd_create', 'memfd_secret', 'mincore', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'mlock', 'mlock2',
  'mlockall', 'mmap', 'mmap2', 'mprotect', 'mq_getsetattr', 'mq_notify', 'mq_open', 'mq_timedreceive',
  'mq_timedreceive_time64', 'mq_timedsend', 'mq_timedsend_time64', 'mq_unlink', 'mremap', 'msgctl', 'msgget', 'msgrcv',
  'msgsnd', 'msync', 'munlock', 'munlockall', 'munmap', 'nanosleep', 'newfstatat', '_newselect', 'open', 'openat',
  'openat2', 'pause', 'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'poll', 'ppoll', 'ppoll_time64', 'prctl',
  'pread64', 'preadv', 'preadv2', 'prlimit64', 'process_mrelease', 'pselect6', 'pselect6_time64', 'pwrite64', 'pwritev',
  'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat', 'readv', 'recv', 'recvfrom', 'recvmmsg', 'recvmmsg_time64',
  'recvmsg', 'remap_file_pages', 'removexattr', 'rename', 'renameat', 'renameat2', 'restart_syscall', 'rmdir', 'rseq',
  'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask', 'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend',
  'rt_sigtimedwait', 'rt_sigtimedwait_time64', 'rt_tgsigqueueinfo', 'sched_getaffinity', 'sched_getattr',
  'sched_getparam', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_getscheduler', 'sched_rr_get_interval',
  'sched_rr_get_interval_time64', 'sched_setaffinity', 'sched_setattr', 'sched_setparam', 'sched_setscheduler',
  'sched_yield', 'seccomp', 'select', 'semctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'send', 'sendfile',
  'sendfile64', 'sendmmsg', 'sendmsg', 'sendto', 'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid',
  'setgid32', 'setgroups', 'setgroups32', 'setitimer', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid',
  'setresgid32', 'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'set_robust_list', 'setsid',
  'setsockopt', 'set_thread_area', 'set_tid_address', 'setuid', 'setuid32', 'setxattr', 'shmat', 'shmctl', 'shmdt',
  'shmget', 'shutdown', 'sigaltstack', 'signalfd', 'signalfd4', 'sigprocmask', 'sigreturn', 'socket', 'socketcall',
  'socketpair', 'splice', 'stat', 'stat64', 'statfs', 'statfs64', 'statx', 'symlink', 'symlinkat', 'sync',
  'sync_file_range', 'syncfs', 'sysinfo', 'tee', 'tgkill', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun',
  'timer_gettime', 'timer_gettime64', 'timer_settime', 'timer_settime64', 'timerfd_create', 'timerfd_gettime',
  'timerfd_gettime64', 'timerfd_settime', 'timerfd_settime64', 'times', 'tkill', 'truncate', 'truncate64', 'ugetrlimit',
  'umask', 'uname', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes', 'vfork', 'vmsplice',
  'wait4', 'waitid', 'waitpid', 'write', 'writev',
  // ptrace of one's own children is safe on kernels >= 4.8 (crisp requires newer ones).
  'ptrace',
];

/** Extra syscalls by architecture. */
const ARCH_SYSCALLS: Record<string, string[]> = {
  x64: ['arch_prctl', 'modify_ldt'],
  ia32: ['modify_ldt'],
  arm64: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  arm: ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'],
  s390x: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'],
  ppc64: ['sync_file_range2', 'swapcontext'],
  riscv64: ['riscv_flush_icache'],
};

/** Syscalls a capability in the bounding set unlocks. */
const CAPABILITY_SYSCALLS: Record<string, string[]> = {
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
  CAP_SYS_ADMIN: [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount',
    'mount_setattr', 'move_mount', 'name_to_handle_at', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd',
    'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ],
  CAP_SYS_BOOT: ['reboot'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_SYS_MODULE: ['delete_module', 'init_module', 'finit_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_PTRACE: ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYSLOG: ['syslog'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
};

/** personality(2) personas allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff. */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP: namespace creation needs CAP_SYS_ADMIN. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;

const ENOSYS = 38;

/**
 * crisp's RuntimeDefault profile for a process with the given bounding capabilities on architecture `arch`
 * (Node's process.arch names). Unlisted syscalls fail with EPERM.
 */
export function defaultSeccompProfile(bounding: readonly string[], arch: string = process.arch): LinuxSeccomp {
  const syscalls: LinuxSyscall[] = [{ names: [...ALLOWED_SYSCALLS], action: 'SCMP_ACT_ALLOW' }];
  for (const p of PERSONALITIES) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: p, op: 'SCMP_CMP_EQ' }] });
  }
  const archExtra = ARCH_SYSCALLS[arch];
  if (archExtra) syscalls.push({ names: [...archExtra], action: 'SCMP_ACT_ALLOW' });
  const admin = bounding.includes('CAP_SYS_ADMIN');
  for (const cap of bounding) {
    const extra = CAPABILITY_SYSCALLS[cap];
    if (extra) syscalls.push({ names: [...extra], action: 'SCMP_ACT_ALLOW' });
  }
  if (!admin) {
    // clone without namespace flags; on s390 the flags are the second argument.
    const index = arch === 's390x' ? 1 : 0;
    syscalls.push({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    // clone3's flags live in memory seccomp cannot inspect: ENOSYS makes libc fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  const profile: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls };
  const arches = NATIVE_ARCHES[arch];
  if (arches) profile.architectures = [...arches];
  return profile;
}
