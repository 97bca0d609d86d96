// The OCI spec of a workload container (CreateContainer), built as containerd's CRI plugin builds it, with
// the checks CRI-O makes (or runc would make later, less clearly) answered as INVALID_ARGUMENT up front.
//
// From the default spec: the request's command/args over the image's ENTRYPOINT/CMD, PATH + HOSTNAME + the
// image's env + the request's env, the working dir, the user (run_as_* or the image's User, resolved against
// the image's /etc/passwd and /etc/group), capabilities, no_new_privs, oom_score_adj, seccomp/AppArmor; the
// pod's /etc/hostname, /etc/hosts, /etc/resolv.conf and /dev/shm, the request's bind mounts and a directory
// for each image VOLUME no mount covers, sorted so parents come first; the requested devices (all the host's
// for privileged containers); the pod's network/IPC/UTS namespaces joined through the pause process (or the
// pinned netns), the PID namespace per the container's mode; resources and cgroupsPath; the CRI annotations.
//
// Everything that needs the host (stat, mkdir, realpath, reading the image's files or /dev) is done by the
// caller before: see the input's callbacks and containerHostPaths. The builder itself is pure.
import { cri } from '@crisp/api';
import path from 'node:path';
import { internal, invalidArgument, failedPrecondition } from '../errors';
import type { SandboxFiles } from '../sandbox/files';
import { containerCapabilities } from './capabilities';
import { cgroupsPath, type CgroupDriver } from './cgroups';
import { DEFAULT_MASKED_PATHS, DEFAULT_PATH_ENV, DEFAULT_READONLY_PATHS, defaultSpec } from './defaults';
import { containerDevices, linuxDevice, type HostDevice, type HostDeviceLookup } from './devices';
import { clampOomScoreAdj } from './oom';
import { toOciResources, type ResourceSupport } from './resources';
import {
  ANNOTATION_CONTAINER_TYPE,
  ANNOTATION_SANDBOX_ID,
  ANNOTATION_SANDBOX_NAME,
  ANNOTATION_SANDBOX_NAMESPACE,
  ANNOTATION_SANDBOX_UID,
  CONTAINER_TYPE_CONTAINER,
  passthroughAnnotations,
} from './sandbox-spec';
import { defaultSeccompProfile, parseSeccompProfile, seccompChoice, type SeccompChoice } from './seccomp';
import { apparmorProfile, applyPrivileged } from './security';
import type { LinuxNamespace, LinuxSeccomp, Mount, Spec } from './types';
import { criId, mergeGids, userFromSecurityContext, type ResolvedUser, type UserFiles } from './user';

export const ANNOTATION_CONTAINER_NAME = 'io.kubernetes.cri.container-name';
export const ANNOTATION_IMAGE_NAME = 'io.kubernetes.cri.image-name';

export const ETC_HOSTNAME = '/etc/hostname';
export const ETC_HOSTS = '/etc/hosts';
export const ETC_RESOLV_CONF = '/etc/resolv.conf';
export const DEV_SHM = '/dev/shm';

/** The parts of the image config a container uses (image/metadata.ts's ImageRuntimeConfig fits it). */
export interface ContainerImageConfig {
  entrypoint?: readonly string[] | undefined;
  cmd?: readonly string[] | undefined;
  env?: readonly string[] | undefined;
  workingDir?: string | undefined;
  user?: string | undefined;
  /** `Volumes` paths. */
  volumes?: readonly string[] | undefined;
}

/** What the container needs of its pod. */
export interface ContainerSandbox {
  id: string;
  config: cri.PodSandboxConfig;
  /** The pinned network namespace (the sandbox record's); undefined for a host-network pod. */
  netnsPath?: string | undefined;
  /** The pause process: the pod's IPC, UTS (and PID, for mode POD) namespaces are joined via /proc/<pid>/ns. */
  pid: number;
  /** The pod's files in its state dir (sandbox/files.ts: sandboxFilePaths). */
  files: Pick<SandboxFiles, 'hostname' | 'hosts' | 'resolvConf'>;
  /**
   * The pod's shared /dev/shm on the host. Without it (and without host IPC) each container keeps the
   * default spec's private tmpfs.
   */
  devShmPath?: string | undefined;
}

/** Where a host path is mounted and how it propagates (from /proc/self/mountinfo: shared:N, master:N). */
export interface MountSourceInfo {
  mountPoint: string;
  shared: boolean;
  /** A slave mount (master:N). */
  slave: boolean;
}

export interface ContainerSpecInput {
  /** The container id (also its cgroup's name). */
  id: string;
  config: cri.ContainerConfig;
  sandbox: ContainerSandbox;
  imageConfig: ContainerImageConfig;
  /** The image name for the image-name annotation (a reference); default: the request's image. */
  imageName?: string | undefined;
  /** The image's /etc/passwd and /etc/group, needed when the user or a group is a name. */
  etcFiles?: UserFiles | undefined;
  /** The node's hostname: HOSTNAME of host-network pods, or of pods without a hostname. */
  nodeHostname: string;
  cgroupDriver: CgroupDriver;
  /** containerd namespace, for the cgroupfs path of a pod without a cgroup parent. */
  containerdNamespace?: string | undefined;
  /** crisp's own oom_score_adj (oom.ts: readOwnOomScoreAdj). */
  ownOomScoreAdj: number;
  /** The capabilities crisp holds (host.ts: readOwnCapabilities). Default: all. */
  ownCapabilities?: readonly string[] | undefined;
  /** Node cgroup features (host.ts: detectResourceSupport); cgroupV2 also decides the cgroup namespace. */
  resourceSupport: ResourceSupport;
  /**
   * The host directory for an image VOLUME at this (normalized) container path; pod-local, chosen by the
   * caller, and the same for the same path on every call (containerHostPaths asks it too).
   */
  volumeDir: (containerPath: string) => string;
  /** The Localhost seccomp profile the container asks for (containerSeccompChoice): parsed, or the file's text. */
  localhostSeccomp?: LinuxSeccomp | string | undefined;
  /** Resolves the request's devices (devices.ts: readHostDeviceLookup); needed when it has any. */
  deviceLookup?: HostDeviceLookup | undefined;
  /** The host's devices (devices.ts: readHostDevices()), given to privileged containers; needed for those. */
  hostDevices?: readonly HostDevice[] | undefined;
  /** The pid whose PID namespace a container with pid mode TARGET joins (the caller resolves target_id). */
  targetPid?: number | undefined;
  /** Whether AppArmor is enabled on the node (it is not on crisp's nodes). */
  apparmorEnabled?: boolean | undefined;
  /** Whether the OCI runtime can make recursive read-only mounts (runc ≥ 1.2 on Linux ≥ 5.12; not runc 1.1). */
  recursiveReadOnlyMounts?: boolean | undefined;
  /** Resolves symlinks of a mount's host path (the CRI asks runtimes to follow them). Default: as given. */
  resolveHostPath?: ((hostPath: string) => string) | undefined;
  /** Propagation of the mount a host path lives on; when given, non-private propagation is checked against it. */
  mountSource?: ((hostPath: string) => MountSourceInfo | undefined) | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Process

/**
 * The process args, by the Docker/Kubernetes rules: a command replaces the ENTRYPOINT and, without args, the
 * CMD too; args alone replace the CMD. An image ENTRYPOINT of [""] means none.
 */
export function containerArgs(config: Pick<cri.ContainerConfig, 'command' | 'args'>, image: ContainerImageConfig): string[] {
  let command = [...config.command];
  let args = [...config.args];
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.cmd ?? [])];
    const ep = image.entrypoint ?? [];
    if (!(ep.length === 1 && ep[0] === '')) command = [...ep];
  }
  const out = [...command, ...args];
  if (out.length === 0) throw invalidArgument('no command specified: the container has no command or args and its image no ENTRYPOINT or CMD');
  return out;
}

/**
 * Overrides `base` with `overrides` by key, in place (Docker's replaceOrAppendEnvValues): a "KEY=value" entry
 * replaces the first KEY or is appended, a bare "KEY" removes it.
 */
export function mergeEnv(base: readonly string[], overrides: readonly string[]): string[] {
  const out: (string | undefined)[] = [];
  const index = new Map<string, number>();
  const keyOf = (e: string): string => {
    const i = e.indexOf('=');
    return i === -1 ? e : e.slice(0, i);
  };
  for (const e of base) {
    const k = keyOf(e);
    if (index.has(k)) out[index.get(k)!] = e;
    else {
      index.set(k, out.length);
      out.push(e);
    }
  }
  for (const e of overrides) {
    const k = keyOf(e);
    const at = index.get(k);
    if (!e.includes('=')) {
      if (at !== undefined) out[at] = undefined;
      continue;
    }
    if (at !== undefined && out[at] !== undefined) out[at] = e;
    else {
      index.set(k, out.length);
      out.push(e);
    }
  }
  return out.filter((e): e is string => e !== undefined);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The request's env as KEY=value strings (KeyValue.value is bytes in this CRI version: UTF-8 is required). */
export function requestEnv(envs: readonly cri.KeyValue[]): string[] {
  return envs.map((kv, i) => {
    if (kv.key === '' || kv.key.includes('=') || kv.key.includes('\0')) {
      throw invalidArgument(`envs[${i}]: invalid variable name "${kv.key}"`);
    }
    let value: string;
    try {
      value = utf8.decode(kv.value);
    } catch {
      throw invalidArgument(`envs[${i}] (${kv.key}): the value is not valid UTF-8`);
    }
    if (value.includes('\0')) throw invalidArgument(`envs[${i}] (${kv.key}): the value contains a NUL byte`);
    return `${kv.key}=${value}`;
  });
}

function podHostname(sandbox: cri.PodSandboxConfig, nodeHostname: string): string {
  const hostNet = sandbox.linux?.securityContext?.namespaceOptions?.network === cri.NamespaceMode.NODE;
  return hostNet ? nodeHostname : sandbox.hostname || nodeHostname;
}

/** PATH (default), HOSTNAME, the image's env, then the request's: later ones override earlier by key. */
export function containerEnv(config: cri.ContainerConfig, image: ContainerImageConfig, hostname: string): string[] {
  return mergeEnv(mergeEnv([DEFAULT_PATH_ENV], [`HOSTNAME=${hostname}`]), [...(image.env ?? []), ...requestEnv(config.envs)]);
}

function containerCwd(config: cri.ContainerConfig, image: ContainerImageConfig): string {
  if (config.workingDir !== '') {
    if (!config.workingDir.startsWith('/')) throw invalidArgument(`working_dir "${config.workingDir}" is not an absolute path`);
    return config.workingDir;
  }
  const wd = image.workingDir ?? '';
  return wd === '' ? '/' : wd.startsWith('/') ? wd : `/${wd}`;
}

/**
 * The user a container's process runs as (what ContainerStatus reports): run_as_username or run_as_user
 * (with run_as_group), else the image's User, resolved against the image's /etc/passwd and /etc/group. The
 * groups are the user's /etc/group memberships plus supplemental_groups (policy Merge), or only the primary
 * group and supplemental_groups (policy Strict).
 */
export function containerUser(config: cri.ContainerConfig, imageUser: string | undefined, files?: UserFiles): ResolvedUser {
  const sc = config.linux?.securityContext;
  const supplemental = sc?.supplementalGroups ?? [];
  const resolved = userFromSecurityContext(
    { runAsUser: sc?.runAsUser, runAsGroup: sc?.runAsGroup, runAsUsername: sc?.runAsUsername ?? '', supplementalGroups: supplemental },
    imageUser,
    files,
  );
  const policy = sc?.supplementalGroupsPolicy ?? cri.SupplementalGroupsPolicy.Merge;
  switch (policy) {
    case cri.SupplementalGroupsPolicy.Merge:
      return resolved;
    case cri.SupplementalGroupsPolicy.Strict:
      return { ...resolved, additionalGids: mergeGids([resolved.gid], supplemental.map((g) => criId('supplemental_groups', g))) };
    default:
      throw invalidArgument(`unknown supplemental_groups_policy ${String(policy)}`);
  }
}

/** The seccomp profile the container's security context asks for (read a Localhost one before building). */
export function containerSeccompChoice(config: cri.ContainerConfig): SeccompChoice {
  const sc = config.linux?.securityContext;
  return seccompChoice(sc?.seccomp, sc?.seccompProfilePath ?? '', sc?.privileged ?? false);
}

// ---------------------------------------------------------------------------------------------------------
// Mounts

/** "/a//b/./" → "/a/b" */
function cleanPath(p: string): string {
  const clean = path.posix.normalize(p);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

/** A cleaned absolute container path; relative or empty ones are INVALID_ARGUMENT. */
function containerPathOf(p: string, what: string): string {
  if (p === '') throw invalidArgument(`${what}: container_path is empty`);
  if (!p.startsWith('/')) throw invalidArgument(`${what}: container_path "${p}" is not an absolute path`);
  if (p.includes('\0')) throw invalidArgument(`${what}: container_path contains a NUL byte`);
  return cleanPath(p);
}

function depth(p: string): number {
  return p.split('/').filter((s) => s !== '').length;
}

/** `p` is `parent` or below it. */
function isWithin(p: string, parent: string): boolean {
  return parent === '/' || p === parent || p.startsWith(`${parent}/`);
}

interface BindMount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  propagation: cri.MountPropagation;
  recursiveReadOnly: boolean;
  what: string;
}

/** The request's mounts, validated, with cleaned container paths. */
function requestMounts(config: cri.ContainerConfig): BindMount[] {
  const seen = new Map<string, number>();
  return config.mounts.map((m, i) => {
    const what = `mounts[${i}]`;
    const containerPath = containerPathOf(m.containerPath, what);
    if (containerPath === '/') throw invalidArgument(`${what}: cannot mount over the container's root "/"`);
    const prev = seen.get(containerPath);
    if (prev !== undefined) throw invalidArgument(`${what}: container_path ${containerPath} is also the destination of mounts[${prev}]`);
    seen.set(containerPath, i);
    if (m.image !== undefined && m.image.image !== '') {
      throw invalidArgument(`${what} (${containerPath}): image volume mounts (Mount.image) are not supported by crisp`);
    }
    if (m.hostPath === '') throw invalidArgument(`${what} (${containerPath}): host_path is empty`);
    if (!m.hostPath.startsWith('/') || m.hostPath.includes('\0')) {
      throw invalidArgument(`${what} (${containerPath}): host_path "${m.hostPath}" is not an absolute path`);
    }
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0) {
      throw invalidArgument(`${what} (${containerPath}): id-mapped mounts are not supported (runc 1.1 cannot make them)`);
    }
    if (!(m.propagation in PROPAGATION)) throw invalidArgument(`${what} (${containerPath}): unknown propagation ${String(m.propagation)}`);
    return {
      containerPath,
      hostPath: cleanPath(m.hostPath),
      readonly: m.readonly,
      propagation: m.propagation,
      recursiveReadOnly: m.recursiveReadOnly,
      what,
    };
  });
}

const PROPAGATION: Readonly<Record<number, string>> = {
  [cri.MountPropagation.PROPAGATION_PRIVATE]: 'rprivate',
  [cri.MountPropagation.PROPAGATION_HOST_TO_CONTAINER]: 'rslave',
  [cri.MountPropagation.PROPAGATION_BIDIRECTIONAL]: 'rshared',
};

/** Image VOLUMEs that get a directory of their own: cleaned, de-duplicated, those no request mount covers. */
export function uncoveredImageVolumes(config: cri.ContainerConfig, volumes: readonly string[]): string[] {
  return imageVolumesOutside(new Set(requestMounts(config).map((m) => m.containerPath)), volumes);
}

function imageVolumesOutside(requested: ReadonlySet<string>, volumes: readonly string[]): string[] {
  const out = new Set<string>();
  for (const v of volumes) {
    if (v.trim() === '') continue;
    const p = containerPathOf(v.startsWith('/') ? v : `/${v}`, `image volume "${v}"`);
    if (p !== '/' && !requested.has(p)) out.add(p);
  }
  return [...out];
}

/**
 * Host directories to create (mkdir -p, when missing) before the container starts, as containerd and CRI-O
 * do: the sources of the request's bind mounts, and the directories of its image VOLUMEs (pod-local, to
 * remove with the container).
 */
export function containerHostPaths(
  input: Pick<ContainerSpecInput, 'config' | 'imageConfig' | 'volumeDir'>,
): { mountSources: string[]; volumeDirs: string[] } {
  return {
    mountSources: [...new Set(requestMounts(input.config).map((m) => m.hostPath))],
    volumeDirs: uncoveredImageVolumes(input.config, input.imageConfig.volumes ?? []).map((v) => input.volumeDir(v)),
  };
}

/** The pod's files, /dev/shm and the image volumes, for destinations the request does not mount itself. */
function extraMounts(input: ContainerSpecInput, requested: ReadonlySet<string>, hostIpc: boolean): BindMount[] {
  const readonlyRootfs = input.config.linux?.securityContext?.readonlyRootfs ?? false;
  const { files, devShmPath } = input.sandbox;
  const extra: BindMount[] = [];
  const add = (containerPath: string, hostPath: string, readonly: boolean, what: string): void => {
    if (requested.has(containerPath) || extra.some((m) => m.containerPath === containerPath)) return;
    extra.push({ containerPath, hostPath, readonly, propagation: cri.MountPropagation.PROPAGATION_PRIVATE, recursiveReadOnly: false, what });
  };
  add(ETC_HOSTNAME, files.hostname, readonlyRootfs, "the pod's hostname file");
  add(ETC_HOSTS, files.hosts, readonlyRootfs, "the pod's hosts file");
  add(ETC_RESOLV_CONF, files.resolvConf, readonlyRootfs, "the pod's resolv.conf");
  const shm = hostIpc ? DEV_SHM : devShmPath;
  if (shm !== undefined) add(DEV_SHM, shm, false, "the pod's /dev/shm");
  for (const v of imageVolumesOutside(requested, input.imageConfig.volumes ?? [])) {
    add(v, input.volumeDir(v), false, `image volume ${v}`);
  }
  return extra;
}

/**
 * The spec's mounts: the defaults (minus those a bind mount replaces or covers), then the bind mounts sorted
 * by depth so a parent is mounted before what lies under it; and the rootfs propagation they need.
 */
function buildMounts(input: ContainerSpecInput, defaults: readonly Mount[], hostIpc: boolean): { mounts: Mount[]; rootfsPropagation?: 'rshared' | 'rslave' } {
  const request = requestMounts(input.config);
  const binds = [...request, ...extraMounts(input, new Set(request.map((m) => m.containerPath)), hostIpc)];
  // Stable: mounts of equal depth keep the request's order.
  binds.sort((a, b) => depth(a.containerPath) - depth(b.containerPath));

  const resolve = input.resolveHostPath ?? ((p: string) => p);
  let rootfsPropagation: 'rshared' | 'rslave' | undefined;
  const mounts: Mount[] = defaults.filter((d) => !binds.some((b) => isWithin(path.posix.normalize(d.destination), b.containerPath)));
  for (const b of binds) {
    const source = resolve(b.hostPath);
    const propagation = PROPAGATION[b.propagation]!;
    if (b.propagation !== cri.MountPropagation.PROPAGATION_PRIVATE) {
      checkMountSource(input, source, b);
      if (propagation === 'rshared') rootfsPropagation = 'rshared';
      else if (rootfsPropagation === undefined) rootfsPropagation = 'rslave';
    }
    let mode: string;
    if (b.recursiveReadOnly) {
      const where = `${b.what} (${b.containerPath})`;
      if (!b.readonly) throw invalidArgument(`${where}: recursive_read_only needs readonly`);
      if (b.propagation !== cri.MountPropagation.PROPAGATION_PRIVATE) {
        throw invalidArgument(`${where}: recursive_read_only needs propagation PROPAGATION_PRIVATE`);
      }
      if (!input.recursiveReadOnlyMounts) {
        throw invalidArgument(`${where}: RRO is not supported: this node's OCI runtime (runc 1.1) cannot make recursive read-only mounts`);
      }
      mode = 'rro';
    } else {
      mode = b.readonly ? 'ro' : 'rw';
    }
    mounts.push({ destination: b.containerPath, type: 'bind', source, options: ['rbind', propagation, mode] });
  }
  return rootfsPropagation === undefined ? { mounts } : { mounts, rootfsPropagation };
}

function checkMountSource(input: ContainerSpecInput, source: string, b: BindMount): void {
  if (!input.mountSource) return;
  const info = input.mountSource(source);
  if (!info) throw failedPrecondition(`${b.what} (${b.containerPath}): cannot find the mount of ${source}`);
  if (b.propagation === cri.MountPropagation.PROPAGATION_BIDIRECTIONAL && !info.shared) {
    throw failedPrecondition(`${b.what} (${b.containerPath}): path ${source} is mounted on ${info.mountPoint} but it is not a shared mount`);
  }
  if (!info.shared && !info.slave) {
    throw failedPrecondition(`${b.what} (${b.containerPath}): path ${source} is mounted on ${info.mountPoint} but it is not a shared or slave mount`);
  }
}

function pathList(paths: readonly string[], field: string): string[] {
  return paths.map((p, i) => {
    if (!p.startsWith('/') || p.includes('\0')) throw invalidArgument(`${field}[${i}] "${p}" is not an absolute path`);
    return p;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Namespaces

const nsPath = (pid: number, ns: string): string => `/proc/${pid}/ns/${ns}`;

function containerNamespaces(input: ContainerSpecInput, hostNet: boolean, hostIpc: boolean, privileged: boolean): LinuxNamespace[] {
  const { sandbox, config } = input;
  const sc = config.linux?.securityContext;
  const sandboxPid = sandbox.config.linux?.securityContext?.namespaceOptions?.pid ?? cri.NamespaceMode.POD;
  const opts = sc?.namespaceOptions;
  const pidMode = opts ? opts.pid : sandboxPid;
  const userns = opts?.usernsOptions;
  if (userns && userns.mode === cri.NamespaceMode.POD && (userns.uids.length > 0 || userns.gids.length > 0)) {
    throw invalidArgument('user namespaces (userns_options mode POD with id mappings) are not supported by crisp');
  }

  const needsPause = !hostNet || !hostIpc || (pidMode === cri.NamespaceMode.POD && sandboxPid !== cri.NamespaceMode.NODE);
  if (needsPause && !(Number.isSafeInteger(sandbox.pid) && sandbox.pid > 0)) {
    throw internal(`sandbox ${sandbox.id}: no pause process pid to join the pod's namespaces`);
  }

  const namespaces: LinuxNamespace[] = [{ type: 'mount' }];
  switch (pidMode) {
    case cri.NamespaceMode.POD:
      // The pod's PID namespace is the host's when the pod asked for host PID.
      if (sandboxPid !== cri.NamespaceMode.NODE) namespaces.push({ type: 'pid', path: nsPath(sandbox.pid, 'pid') });
      break;
    case cri.NamespaceMode.CONTAINER:
      namespaces.push({ type: 'pid' });
      break;
    case cri.NamespaceMode.NODE:
      break;
    case cri.NamespaceMode.TARGET: {
      if (!opts || opts.targetId === '') throw invalidArgument('pid namespace mode TARGET needs target_id');
      const target = input.targetPid;
      if (target === undefined || !(Number.isSafeInteger(target) && target > 0)) {
        throw internal(`pid namespace mode TARGET: no pid was resolved for target container ${opts.targetId}`);
      }
      namespaces.push({ type: 'pid', path: nsPath(target, 'pid') });
      break;
    }
    default:
      throw invalidArgument(`unknown pid namespace mode ${String(pidMode)}`);
  }
  if (!hostIpc) namespaces.push({ type: 'ipc', path: nsPath(sandbox.pid, 'ipc') });
  if (!hostNet) {
    namespaces.push({ type: 'uts', path: nsPath(sandbox.pid, 'uts') });
    namespaces.push({ type: 'network', path: sandbox.netnsPath ?? nsPath(sandbox.pid, 'net') });
  }
  // A cgroup namespace hides the host's hierarchy on cgroup v2 (not on v1, nor for privileged containers).
  if (input.resourceSupport.cgroupV2 && !privileged) namespaces.push({ type: 'cgroup' });
  return namespaces;
}

// ---------------------------------------------------------------------------------------------------------

export function buildContainerSpec(input: ContainerSpecInput): Spec {
  const { id, config, sandbox, imageConfig } = input;
  const sc = config.linux?.securityContext;
  const privileged = sc?.privileged ?? false;
  const sandboxNs = sandbox.config.linux?.securityContext?.namespaceOptions;
  const hostNet = sandboxNs?.network === cri.NamespaceMode.NODE;
  const hostIpc = sandboxNs?.ipc === cri.NamespaceMode.NODE;

  if (privileged && !(sandbox.config.linux?.securityContext?.privileged ?? false)) {
    throw invalidArgument('a privileged container needs a privileged pod sandbox (its security_context.privileged)');
  }
  if (config.CDIDevices.length > 0) throw invalidArgument('CDI devices are not supported by crisp');

  const spec = defaultSpec();
  const proc = spec.process!;
  const linux = spec.linux!;

  // Process.
  proc.args = containerArgs(config, imageConfig);
  proc.env = containerEnv(config, imageConfig, podHostname(sandbox.config, input.nodeHostname));
  proc.cwd = containerCwd(config, imageConfig);
  proc.terminal = config.tty;
  const user = containerUser(config, imageConfig.user, input.etcFiles);
  proc.user = { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
  proc.noNewPrivileges = sc?.noNewPrivs ?? false;
  proc.capabilities = containerCapabilities({ privileged, capabilities: sc?.capabilities }, input.ownCapabilities);
  const resources = config.linux?.resources;
  if (resources) proc.oomScoreAdj = clampOomScoreAdj(resources.oomScoreAdj, input.ownOomScoreAdj);
  const apparmor = apparmorProfile(sc?.apparmor, sc?.apparmorProfile ?? '', privileged, input.apparmorEnabled ?? false);
  if (apparmor !== undefined) proc.apparmorProfile = apparmor;

  if (sc?.readonlyRootfs) spec.root = { path: spec.root!.path, readonly: true };

  // Mounts, masked and read-only paths (the request's lists replace the defaults; privileged clears them).
  const { mounts, rootfsPropagation } = buildMounts(input, spec.mounts ?? [], hostIpc);
  spec.mounts = mounts;
  if (rootfsPropagation !== undefined) linux.rootfsPropagation = rootfsPropagation;
  const masked = sc?.maskedPaths ?? [];
  const readonlyPaths = sc?.readonlyPaths ?? [];
  linux.maskedPaths = masked.length > 0 ? pathList(masked, 'masked_paths') : [...DEFAULT_MASKED_PATHS];
  linux.readonlyPaths = readonlyPaths.length > 0 ? pathList(readonlyPaths, 'readonly_paths') : [...DEFAULT_READONLY_PATHS];

  linux.namespaces = containerNamespaces(input, hostNet, hostIpc, privileged);

  // Cgroup and resources; then the requested devices and their cgroup rules.
  linux.cgroupsPath = cgroupsPath(input.cgroupDriver, sandbox.config.linux?.cgroupParent ?? '', id, input.containerdNamespace);
  if (resources) linux.resources = toOciResources(resources, input.resourceSupport, linux.resources);
  const requested = containerDevices(config.devices, input.deviceLookup);
  linux.resources = { ...linux.resources, devices: [...(linux.resources?.devices ?? []), ...requested.rules] };
  let devices = requested.devices;
  if (privileged) {
    if (!input.hostDevices) throw internal(`container ${id}: privileged, but the host's devices were not read`);
    const claimed = new Set(devices.map((d) => d.path));
    devices = [...input.hostDevices.filter((d) => !claimed.has(d.path)).map((d) => linuxDevice(d)), ...devices];
    applyPrivileged(spec, input.ownCapabilities);
  }
  if (devices.length > 0) linux.devices = devices;

  // Seccomp, after the capabilities are final (the default profile depends on them).
  if (!privileged) {
    const choice = containerSeccompChoice(config);
    if (choice.kind === 'runtime-default') {
      linux.seccomp = defaultSeccompProfile(proc.capabilities?.bounding ?? []);
    } else if (choice.kind === 'localhost') {
      const profile = input.localhostSeccomp;
      if (profile === undefined) throw internal(`container ${id}: localhost seccomp profile ${choice.path} was not loaded`);
      linux.seccomp = typeof profile === 'string' ? parseSeccompProfile(profile, choice.path) : profile;
    }
  }

  // Annotations: the container's (minus reserved prefixes), then crisp's CRI annotations.
  const md = sandbox.config.metadata;
  spec.annotations = {
    ...passthroughAnnotations(config.annotations),
    [ANNOTATION_CONTAINER_TYPE]: CONTAINER_TYPE_CONTAINER,
    [ANNOTATION_SANDBOX_ID]: sandbox.id,
    [ANNOTATION_SANDBOX_NAME]: md?.name ?? '',
    [ANNOTATION_SANDBOX_NAMESPACE]: md?.namespace ?? '',
    [ANNOTATION_SANDBOX_UID]: md?.uid ?? '',
    [ANNOTATION_CONTAINER_NAME]: config.metadata?.name ?? '',
    [ANNOTATION_IMAGE_NAME]: input.imageName ?? (config.image?.userSpecifiedImage || config.image?.image || ''),
  };
  return spec;
}
