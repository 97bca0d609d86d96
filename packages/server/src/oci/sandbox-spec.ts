// The OCI spec of a pod sandbox's pause container, built as containerd's CRI plugin builds it: the default spec
// without rlimits, with a read-only rootfs, the image's entrypoint/env/cwd, the pod's namespaces (the network
// namespace crisp created, or the host's), hostname, sysctls, user, seccomp, cgroup parent, minimal CPU shares,
// oom_score_adj -998 (raised to crisp's own), and the CRI annotations runtimes and tools read.
import { cri } from '@crisp/api';
import { failedPrecondition, internal, invalidArgument } from '../errors';
import { cgroupsPath, type CgroupDriver } from './cgroups';
import { DEFAULT_PATH_ENV, defaultSpec } from './defaults';
import { clampOomScoreAdj, SANDBOX_OOM_SCORE_ADJ } from './oom';
import { sandboxResources, type ResourceSupport } from './resources';
import { defaultSeccompProfile, seccompChoice, type SeccompChoice } from './seccomp';
import { apparmorProfile, applyPrivileged } from './security';
import { validateSysctls } from './sysctl';
import type { LinuxNamespace, LinuxNamespaceType, LinuxSeccomp, Spec } from './types';
import { userFromSecurityContext, type UserFiles } from './user';

/** The annotations containerd's CRI plugin sets (kata and other runtimes, and tools, read them). */
export const ANNOTATION_CONTAINER_TYPE = 'io.kubernetes.cri.container-type';
export const CONTAINER_TYPE_SANDBOX = 'sandbox';
export const CONTAINER_TYPE_CONTAINER = 'container';
export const ANNOTATION_SANDBOX_ID = 'io.kubernetes.cri.sandbox-id';
export const ANNOTATION_SANDBOX_NAME = 'io.kubernetes.cri.sandbox-name';
export const ANNOTATION_SANDBOX_NAMESPACE = 'io.kubernetes.cri.sandbox-namespace';
export const ANNOTATION_SANDBOX_UID = 'io.kubernetes.cri.sandbox-uid';
export const ANNOTATION_SANDBOX_LOG_DIRECTORY = 'io.kubernetes.cri.sandbox-log-directory';

/**
 * Pod annotations with these prefixes are not copied into the spec: they are crisp's own, or OCI runtimes act
 * on them (runc turns org.systemd.property.* into properties of the pod's systemd unit, crun reads run.oci.*,
 * kata io.katacontainers.*), and a pod must not be able to reconfigure its runtime through its annotations.
 */
export const RESERVED_ANNOTATION_PREFIXES: readonly string[] = Object.freeze([
  'io.kubernetes.cri.',
  'org.systemd.property.',
  'run.oci.',
  'io.katacontainers.',
  'org.criu.',
]);

/** HOST_NAME_MAX */
const MAX_HOSTNAME = 64;

/** The parts of the image config the sandbox uses (image/metadata.ts's ImageRuntimeConfig fits it). */
export interface SandboxImageConfig {
  entrypoint?: readonly string[] | undefined;
  cmd?: readonly string[] | undefined;
  env?: readonly string[] | undefined;
  workingDir?: string | undefined;
  user?: string | undefined;
}

export interface SandboxSpecInput {
  /** The sandbox id (also the pause container's id). */
  id: string;
  config: cri.PodSandboxConfig;
  imageConfig: SandboxImageConfig;
  /** The pinned network namespace crisp created; undefined exactly when the pod uses the host network. */
  netnsPath?: string | undefined;
  cgroupDriver: CgroupDriver;
  /** crisp's own oom_score_adj (host.ts: readOwnOomScoreAdj). */
  ownOomScoreAdj: number;
  /** The runtime handler the pod runs under (recorded by the caller; the spec does not depend on it yet). */
  runtimeHandler: string;
  /** The capabilities crisp holds (host.ts: readOwnCapabilities); privileged pods get these. Default: all. */
  ownCapabilities?: readonly string[] | undefined;
  /** Node cgroup features (host.ts: detectResourceSupport); only used to validate the pod's resources. */
  resourceSupport?: ResourceSupport | undefined;
  /**
   * The pod's shared /dev/shm on the host (a tmpfs crisp mounts for the pod's containers to share), bound
   * read-only into the pause container. Ignored with host IPC, where the host's /dev/shm is bound.
   * Without it the pause container gets a private tmpfs.
   */
  devShmPath?: string | undefined;
  /** The pause image's /etc/passwd and /etc/group, needed only if its user is a name. */
  etcFiles?: UserFiles | undefined;
  /** The parsed profile when the pod asks for a Localhost seccomp profile (see sandboxSeccompChoice). */
  localhostSeccomp?: LinuxSeccomp | undefined;
  /** Whether AppArmor is enabled on the node (it is not on crisp's nodes). */
  apparmorEnabled?: boolean | undefined;
  /** containerd namespace, for the cgroupfs path of a pod without a cgroup parent. */
  containerdNamespace?: string | undefined;
}

type Mode = 'host' | 'private';

function namespaceMode(kind: 'network' | 'pid' | 'ipc', mode: cri.NamespaceMode): Mode {
  switch (mode) {
    case cri.NamespaceMode.NODE:
      return 'host';
    case cri.NamespaceMode.POD:
    case cri.NamespaceMode.CONTAINER:
      return 'private';
    case cri.NamespaceMode.TARGET:
      throw invalidArgument(`${kind} namespace mode TARGET is not valid for a pod sandbox`);
    default:
      throw invalidArgument(`unknown ${kind} namespace mode ${String(mode)}`);
  }
}

function validateUserNamespace(opts: cri.NamespaceOption | undefined): void {
  const userns = opts?.usernsOptions;
  if (!userns) return;
  if (userns.mode === cri.NamespaceMode.NODE) return;
  if (userns.mode === cri.NamespaceMode.POD) {
    if (userns.uids.length === 0 && userns.gids.length === 0) return; // an old kubelet's "no user namespace"
    throw invalidArgument('user namespaces (userns_options mode POD with id mappings) are not supported by crisp');
  }
  throw invalidArgument(`user namespace mode ${cri.NamespaceMode[userns.mode] ?? String(userns.mode)} is not valid: only POD or NODE`);
}

function validateHostname(hostname: string): void {
  if (hostname.length > MAX_HOSTNAME) throw invalidArgument(`hostname "${hostname}" is longer than ${MAX_HOSTNAME} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s/\x00-\x1f]/.test(hostname)) throw invalidArgument(`invalid hostname "${hostname}": whitespace, control characters or '/'`);
}

/** The seccomp profile the pod's security context asks for (read a Localhost one before building the spec). */
export function sandboxSeccompChoice(config: cri.PodSandboxConfig): SeccompChoice {
  const sc = config.linux?.securityContext;
  return seccompChoice(sc?.seccomp, sc?.seccompProfilePath ?? '', sc?.privileged ?? false);
}

/** Pod annotations to copy into the spec: all but those with reserved prefixes. */
export function passthroughAnnotations(annotations: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(annotations).filter(([k]) => !RESERVED_ANNOTATION_PREFIXES.some((p) => k.startsWith(p))));
}

export function buildSandboxSpec(input: SandboxSpecInput): Spec {
  const { id, config, imageConfig } = input;
  const linuxConfig = config.linux;
  const sc = linuxConfig?.securityContext;
  const nsOptions = sc?.namespaceOptions;
  const privileged = sc?.privileged ?? false;

  const network = namespaceMode('network', nsOptions?.network ?? cri.NamespaceMode.POD);
  const pid = namespaceMode('pid', nsOptions?.pid ?? cri.NamespaceMode.POD);
  const ipc = namespaceMode('ipc', nsOptions?.ipc ?? cri.NamespaceMode.POD);
  validateUserNamespace(nsOptions);
  if (network === 'private' && input.netnsPath === undefined) {
    throw internal(`sandbox ${id}: no network namespace path for a pod network`);
  }
  if (network === 'host' && input.netnsPath !== undefined) {
    throw internal(`sandbox ${id}: a network namespace path was given for a host-network pod`);
  }

  const args = [...(imageConfig.entrypoint ?? []), ...(imageConfig.cmd ?? [])];
  if (args.length === 0) throw failedPrecondition('the sandbox image has neither an entrypoint nor a cmd');

  const spec = defaultSpec();
  const proc = spec.process!;
  const linux = spec.linux!;

  // Process.
  proc.args = args;
  const env = [...(imageConfig.env ?? [])];
  if (!env.some((e) => e.startsWith('PATH='))) env.unshift(DEFAULT_PATH_ENV);
  proc.env = env;
  const wd = imageConfig.workingDir ?? '';
  proc.cwd = wd === '' ? '/' : wd.startsWith('/') ? wd : `/${wd}`;
  const user = userFromSecurityContext(
    { runAsUser: sc?.runAsUser, runAsGroup: sc?.runAsGroup, supplementalGroups: sc?.supplementalGroups ?? [] },
    imageConfig.user,
    input.etcFiles,
  );
  proc.user = { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
  proc.oomScoreAdj = clampOomScoreAdj(SANDBOX_OOM_SCORE_ADJ, input.ownOomScoreAdj);
  const apparmor = apparmorProfile(sc?.apparmor, '', privileged, input.apparmorEnabled ?? false);
  if (apparmor !== undefined) proc.apparmorProfile = apparmor;

  // The pause container writes nothing: its rootfs is always read-only (as in containerd).
  spec.root = { path: spec.root!.path, readonly: true };

  // Namespaces: a new mount namespace always; the rest per the pod's options.
  const namespaces: LinuxNamespace[] = [{ type: 'mount' }];
  const add = (type: LinuxNamespaceType, path?: string): void => {
    namespaces.push(path === undefined ? { type } : { type, path });
  };
  if (pid === 'private') add('pid');
  if (ipc === 'private') add('ipc');
  if (network === 'private') {
    add('network', input.netnsPath);
    add('uts');
  }
  linux.namespaces = namespaces;

  // The hostname lives in the pod's UTS namespace: none with the host network (kubelet sends none then).
  if (network === 'private' && config.hostname !== '') {
    validateHostname(config.hostname);
    spec.hostname = config.hostname;
  }

  // /dev/shm: the pod's shared one (or the host's with host IPC), read-only for the pause process.
  const shmSource = ipc === 'host' ? '/dev/shm' : input.devShmPath;
  if (shmSource !== undefined) {
    spec.mounts = spec.mounts!.filter((m) => m.destination !== '/dev/shm');
    spec.mounts.push({ destination: '/dev/shm', type: 'bind', source: shmSource, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
  }

  // Sysctls, valid only in namespaces the pod owns.
  const sysctls = linuxConfig?.sysctls ?? {};
  validateSysctls(sysctls, { network: network === 'private', ipc: ipc === 'private', uts: network === 'private' });
  if (Object.keys(sysctls).length > 0) linux.sysctl = { ...sysctls };

  // Cgroup and resources.
  linux.cgroupsPath = cgroupsPath(input.cgroupDriver, linuxConfig?.cgroupParent ?? '', id, input.containerdNamespace);
  const support = input.resourceSupport ?? { swap: true, hugetlb: true, cgroupV2: true };
  const pod = sandboxResources(linuxConfig, support);
  linux.resources = { ...linux.resources, ...pod.resources };

  // Seccomp, after the capabilities are final (the default profile depends on them).
  if (privileged) {
    applyPrivileged(spec, input.ownCapabilities);
  } else {
    const choice = sandboxSeccompChoice(config);
    if (choice.kind === 'runtime-default') {
      linux.seccomp = defaultSeccompProfile(proc.capabilities?.bounding ?? []);
    } else if (choice.kind === 'localhost') {
      if (!input.localhostSeccomp) throw internal(`sandbox ${id}: localhost seccomp profile ${choice.path} was not loaded`);
      linux.seccomp = input.localhostSeccomp;
    }
  }

  // Annotations: the pod's (minus reserved prefixes), the pod resources, then crisp's CRI annotations.
  spec.annotations = {
    ...passthroughAnnotations(config.annotations),
    ...pod.annotations,
    [ANNOTATION_CONTAINER_TYPE]: CONTAINER_TYPE_SANDBOX,
    [ANNOTATION_SANDBOX_ID]: id,
    [ANNOTATION_SANDBOX_NAME]: config.metadata?.name ?? '',
    [ANNOTATION_SANDBOX_NAMESPACE]: config.metadata?.namespace ?? '',
    [ANNOTATION_SANDBOX_UID]: config.metadata?.uid ?? '',
    [ANNOTATION_SANDBOX_LOG_DIRECTORY]: config.logDirectory,
  };
  return spec;
}
