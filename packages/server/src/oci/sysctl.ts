// Pod sysctls: only namespaced ones can be set, and only in a namespace the pod owns. These are runc's rules
// (and CRI-O's), checked here so that RunPodSandbox answers INVALID_ARGUMENT naming the sysctl instead of
// failing at task start. Which sysctls a pod may ask for at all (safe vs unsafe) is kubelet's decision.
import { invalidArgument } from '../errors';

/** IPC-namespaced sysctls besides the fs.mqueue.* family. */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

export interface SysctlNamespaces {
  /** The pod has its own network namespace. */
  network: boolean;
  /** The pod has its own IPC namespace. */
  ipc: boolean;
  /** The pod has its own UTS namespace. */
  uts: boolean;
}

/** "net/ipv4/conf/eth0.100/rp_filter" → "net.ipv4.conf.eth0/100.rp_filter" (sysctl(8)'s '/' form). */
export function normalizeSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first === -1 || name[first] === '.') return name;
  return name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/** Throws INVALID_ARGUMENT for the first sysctl that cannot be set with these namespaces. */
export function validateSysctls(sysctls: Record<string, string>, ns: SysctlNamespaces): void {
  for (const [key] of Object.entries(sysctls)) {
    const name = normalizeSysctlName(key);
    if (name === '' || name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
      throw invalidArgument(`invalid sysctl name "${key}"`);
    }
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.')) {
      if (!ns.ipc) throw invalidArgument(`sysctl "${key}" is not allowed with the host IPC namespace (ipc mode NODE)`);
      continue;
    }
    if (name.startsWith('net.')) {
      if (!ns.network) throw invalidArgument(`sysctl "${key}" is not allowed with the host network namespace (network mode NODE)`);
      continue;
    }
    if (name === 'kernel.domainname') {
      if (!ns.uts) throw invalidArgument(`sysctl "${key}" is not allowed with the host UTS namespace (network mode NODE)`);
      continue;
    }
    if (name === 'kernel.hostname') {
      throw invalidArgument(`sysctl "${key}" is not allowed: the pod's hostname is set from PodSandboxConfig.hostname`);
    }
    throw invalidArgument(`sysctl "${key}" is not namespaced and cannot be set for a pod`);
  }
}
