// Capability sets: CRI add/drop (kubelet sends names without the CAP_ prefix; either form is accepted, any case)
// applied to the default set, "ALL" in either list, and the full set of a privileged container.
//
// "All" means every capability runc 1.1 knows, limited to those crisp itself holds when known: runc cannot give
// a container a permitted capability its parent lacks (capset fails with EPERM), and crisp's nodes lack
// CAP_SYS_RESOURCE. containerd does the same (it uses the daemon's current capabilities).
import type { cri } from '@crisp/api';
import { invalidArgument } from '../errors';
import { DEFAULT_CAPABILITIES } from './defaults';
import type { LinuxCapabilities } from './types';

/** Every Linux capability runc 1.1 knows, in bit order (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40). */
export const ALL_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
]);

const KNOWN = new Set(ALL_CAPABILITIES);

/** "net_admin", "NET_ADMIN", "CAP_NET_ADMIN" → "CAP_NET_ADMIN"; unknown names are INVALID_ARGUMENT. */
export function normalizeCapability(name: string, list = 'capability'): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!KNOWN.has(full)) throw invalidArgument(`unknown ${list} "${name}"`);
  return full;
}

const isAll = (name: string): boolean => name.trim().toUpperCase() === 'ALL';

/** Keeps ALL_CAPABILITIES order and removes duplicates. */
function ordered(caps: Iterable<string>): string[] {
  const set = new Set(caps);
  return ALL_CAPABILITIES.filter((c) => set.has(c));
}

/** The capabilities "all" stands for: every known one, or only those crisp holds when they are known. */
export function allCapabilities(own?: readonly string[]): string[] {
  return own ? ordered(own.filter((c) => KNOWN.has(c))) : [...ALL_CAPABILITIES];
}

/**
 * Applies CRI add/drop lists to `base`, in containerd's order: "ALL" in add starts from every capability,
 * "ALL" in drop from none, then individual adds, then individual drops (so drop wins over add of the same
 * name, and add ALL + drop X is everything but X). The result is in capability bit order.
 */
export function applyCapabilityChanges(
  base: readonly string[],
  add: readonly string[],
  drop: readonly string[],
  own?: readonly string[],
): string[] {
  let set = new Set(base);
  if (add.some(isAll)) set = new Set(allCapabilities(own));
  if (drop.some(isAll)) set = new Set();
  for (const c of add) if (!isAll(c)) set.add(normalizeCapability(c, 'capability to add'));
  for (const c of drop) if (!isAll(c)) set.delete(normalizeCapability(c, 'capability to drop'));
  if (own) {
    const held = new Set(own);
    const missing = [...set].filter((c) => !held.has(c));
    if (missing.length > 0) {
      throw invalidArgument(`capabilities ${missing.join(', ')} cannot be granted: crisp itself does not hold them on this node`);
    }
  }
  return ordered(set);
}

/** The process capability sets for a list: bounding, effective and permitted; ambient ones also inheritable. */
export function capabilitySets(caps: readonly string[], ambient: readonly string[] = []): LinuxCapabilities {
  const out: LinuxCapabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps] };
  if (ambient.length > 0) {
    out.inheritable = [...ambient];
    out.ambient = [...ambient];
  }
  return out;
}

/**
 * A container's capabilities from its security context: every capability crisp holds when privileged,
 * otherwise the default set with the CRI changes. Ambient capabilities must also be in the resulting set.
 */
export function containerCapabilities(
  sc: { privileged: boolean; capabilities?: cri.Capability | undefined },
  own?: readonly string[],
): LinuxCapabilities {
  if (sc.privileged) return capabilitySets(allCapabilities(own));
  const c = sc.capabilities;
  const caps = applyCapabilityChanges(DEFAULT_CAPABILITIES, c?.addCapabilities ?? [], c?.dropCapabilities ?? [], own);
  const ambient = ordered((c?.addAmbientCapabilities ?? []).map((n) => normalizeCapability(n, 'ambient capability')));
  const outside = ambient.filter((a) => !caps.includes(a));
  if (outside.length > 0) {
    throw invalidArgument(`ambient capabilities ${outside.join(', ')} are not in the container's capability set`);
  }
  return capabilitySets(caps, ambient);
}

/** Decodes a capability mask as in /proc/<pid>/status (CapPrm: 000001fffeffffff) into names runc knows. */
export function parseCapabilityMask(hex: string): string[] {
  const t = hex.trim();
  if (!/^[0-9a-fA-F]{1,16}$/.test(t)) throw new Error(`invalid capability mask "${hex}"`);
  const mask = BigInt(`0x${t}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}
