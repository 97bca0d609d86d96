// The OCI runtime spec (runtime-spec v1.1, config.json) as TypeScript types: the JSON field names are
// exactly the spec's (camelCase as in its JSON schema), so a Spec serialises with JSON.stringify as-is.
// Only the Linux parts are typed; integers the spec declares as int64/uint64 are JS numbers (every value
// crisp produces fits in a safe integer; resources.ts checks that when it converts from the CRI's bigints).

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

export interface Root {
  /** Relative paths are relative to the bundle. */
  path: string;
  readonly?: boolean;
}

export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
  uidMappings?: LinuxIdMapping[];
  gidMappings?: LinuxIdMapping[];
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: LinuxCapabilities;
  rlimits?: PosixRlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: LinuxIoPriority;
  execCPUAffinity?: { initial?: string; final?: string };
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface PosixRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Scheduler {
  policy: string;
  nice?: number;
  priority?: number;
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

export interface LinuxIoPriority {
  class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';
  priority: number;
}

export interface Hooks {
  /** Deprecated in the spec; runc still runs them. */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export type LinuxNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

export interface LinuxNamespace {
  type: LinuxNamespaceType;
  /** Join this namespace instead of creating a new one. */
  path?: string;
}

export interface LinuxIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface LinuxDevice {
  path: string;
  type: 'c' | 'b' | 'u' | 'p';
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface LinuxDeviceCgroup {
  allow: boolean;
  /** 'a' (all), 'c' or 'b'; absent means all. */
  type?: 'a' | 'c' | 'b';
  /** Absent means all (wildcard). */
  major?: number;
  minor?: number;
  /** A combination of r, w and m. */
  access?: string;
}

export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  /** memory+swap limit (cgroup v1 semantics); -1 is unlimited. */
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface LinuxCpu {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface LinuxPids {
  limit: number;
}

export interface LinuxWeightDevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
}

export interface LinuxThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

export interface LinuxBlockIo {
  weight?: number;
  leafWeight?: number;
  weightDevice?: LinuxWeightDevice[];
  throttleReadBpsDevice?: LinuxThrottleDevice[];
  throttleWriteBpsDevice?: LinuxThrottleDevice[];
  throttleReadIOPSDevice?: LinuxThrottleDevice[];
  throttleWriteIOPSDevice?: LinuxThrottleDevice[];
}

export interface LinuxHugepageLimit {
  /** e.g. "2MB", "1GB" */
  pageSize: string;
  limit: number;
}

export interface LinuxNetwork {
  classID?: number;
  priorities?: { name: string; priority: number }[];
}

export interface LinuxRdma {
  hcaHandles?: number;
  hcaObjects?: number;
}

export interface LinuxResources {
  devices?: LinuxDeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCpu;
  pids?: LinuxPids;
  blockIO?: LinuxBlockIo;
  hugepageLimits?: LinuxHugepageLimit[];
  network?: LinuxNetwork;
  rdma?: Record<string, LinuxRdma>;
  /** cgroup v2 files, e.g. { "memory.high": "1073741824" } */
  unified?: Record<string, string>;
}

export type SeccompAction =
  | 'SCMP_ACT_KILL'
  | 'SCMP_ACT_KILL_PROCESS'
  | 'SCMP_ACT_KILL_THREAD'
  | 'SCMP_ACT_TRAP'
  | 'SCMP_ACT_ERRNO'
  | 'SCMP_ACT_TRACE'
  | 'SCMP_ACT_ALLOW'
  | 'SCMP_ACT_LOG'
  | 'SCMP_ACT_NOTIFY';

export type SeccompOperator =
  | 'SCMP_CMP_NE'
  | 'SCMP_CMP_LT'
  | 'SCMP_CMP_LE'
  | 'SCMP_CMP_EQ'
  | 'SCMP_CMP_GE'
  | 'SCMP_CMP_GT'
  | 'SCMP_CMP_MASKED_EQ';

export interface LinuxSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

export interface LinuxSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
}

export interface LinuxSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  /** e.g. SCMP_ARCH_X86_64 */
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: LinuxSyscall[];
}

export interface LinuxIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

export interface LinuxPersonality {
  domain: 'LINUX' | 'LINUX32';
  flags?: string[];
}

export interface Linux {
  uidMappings?: LinuxIdMapping[];
  gidMappings?: LinuxIdMapping[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  /** cgroupfs: a path; systemd: "slice:prefix:name". */
  cgroupsPath?: string;
  namespaces?: LinuxNamespace[];
  devices?: LinuxDevice[];
  seccomp?: LinuxSeccomp;
  rootfsPropagation?: 'private' | 'rprivate' | 'slave' | 'rslave' | 'shared' | 'rshared' | 'unbindable' | 'runbindable';
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: LinuxIntelRdt;
  personality?: LinuxPersonality;
  timeOffsets?: Record<string, { secs?: number; nanosecs?: number }>;
}
