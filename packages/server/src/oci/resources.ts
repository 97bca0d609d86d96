// CRI LinuxContainerResources → OCI linux.resources, with the checks runc or the kernel would otherwise fail
// on later and less clearly. A zero CRI value means "not specified" and sets nothing (as in containerd).
// oom_score_adj belongs to the process, not the cgroup: see oom.ts.
import type { cri } from '@crisp/api';
import { invalidArgument } from '../errors';
import type { LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources } from './types';

/** Node facts the mapping depends on (containerd probes them once; see detectResourceSupport in host.ts). */
export interface ResourceSupport {
  /** memory.memsw.* (cgroup v1) or memory.swap.max (v2) exists: without it swap limits are left out. */
  swap: boolean;
  /** The hugetlb controller exists: without it hugepage limits are left out (containerd's tolerate default). */
  hugetlb: boolean;
  /** cgroup v2 unified mode: `unified` keys are refused on v1, where runc would refuse them. */
  cgroupV2: boolean;
}

/** cpu.cfs_period_us bounds (the kernel's: 1 ms .. 1 s). */
export const CPU_PERIOD_MIN = 1000n;
export const CPU_PERIOD_MAX = 1000000n;
/** The smallest CFS quota the kernel accepts (1 ms). */
export const CPU_QUOTA_MIN = 1000n;
/** cpu.shares bounds (the kernel clamps outside them; kubelet's minimum is 2). */
export const CPU_SHARES_MIN = 2n;
export const CPU_SHARES_MAX = 262144n;

/** The CPU shares of a sandbox's pause container (containerd's DefaultSandboxCPUshares). */
export const SANDBOX_CPU_SHARES = 2;

/** Page sizes as the CRI and the hugetlb controller name them: <n><unit>B, units base 1024. */
const PAGE_SIZE = /^[1-9][0-9]*(KB|MB|GB|TB|PB)$/;
/** A cgroup v2 interface file: <controller>.<name>, no path separators. */
const UNIFIED_KEY = /^[a-z][a-z0-9_]*\.[A-Za-z0-9_.]+$/;
/** A cpuset list: "0-3,5,7-8". */
const CPUSET_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** Converts an int64 from the CRI to a JSON number, refusing values that would lose precision. */
export function toSafeNumber(field: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw invalidArgument(`${field} ${v} is out of range`);
  }
  return Number(v);
}

function validateCpuset(field: string, v: string): void {
  if (!CPUSET_LIST.test(v)) throw invalidArgument(`${field} "${v}" is not a cpu/node list like "0-3,5"`);
  for (const range of v.split(',')) {
    const [a, b] = range.split('-').map(Number);
    if (b !== undefined && b < a!) throw invalidArgument(`${field} "${v}": range "${range}" is reversed`);
  }
}

/** Throws INVALID_ARGUMENT naming the first bad field (prefixed with `what`, e.g. resources.cpu_shares). */
export function validateResources(r: cri.LinuxContainerResources, support: ResourceSupport, what = 'resources'): void {
  const f = (name: string): string => `${what}.${name}`;
  if (r.cpuPeriod < 0n) throw invalidArgument(`${f('cpu_period')} must not be negative, got ${r.cpuPeriod}`);
  if (r.cpuPeriod !== 0n && (r.cpuPeriod < CPU_PERIOD_MIN || r.cpuPeriod > CPU_PERIOD_MAX)) {
    throw invalidArgument(`${f('cpu_period')} must be between ${CPU_PERIOD_MIN} and ${CPU_PERIOD_MAX} microseconds, got ${r.cpuPeriod}`);
  }
  if (r.cpuQuota < -1n) throw invalidArgument(`${f('cpu_quota')} must be -1 (unlimited), 0 (unset) or positive, got ${r.cpuQuota}`);
  if (r.cpuQuota > 0n) {
    if (r.cpuQuota < CPU_QUOTA_MIN) throw invalidArgument(`${f('cpu_quota')} must be at least ${CPU_QUOTA_MIN} microseconds, got ${r.cpuQuota}`);
    if (r.cpuPeriod === 0n) throw invalidArgument(`${f('cpu_quota')} ${r.cpuQuota} is set without ${f('cpu_period')}`);
  }
  if (r.cpuShares < 0n) throw invalidArgument(`${f('cpu_shares')} must not be negative, got ${r.cpuShares}`);
  if (r.cpuShares !== 0n && (r.cpuShares < CPU_SHARES_MIN || r.cpuShares > CPU_SHARES_MAX)) {
    throw invalidArgument(`${f('cpu_shares')} must be between ${CPU_SHARES_MIN} and ${CPU_SHARES_MAX}, got ${r.cpuShares}`);
  }
  if (r.cpusetCpus !== '') validateCpuset(f('cpuset_cpus'), r.cpusetCpus);
  if (r.cpusetMems !== '') validateCpuset(f('cpuset_mems'), r.cpusetMems);
  if (r.memoryLimitInBytes < 0n) throw invalidArgument(`${f('memory_limit_in_bytes')} must not be negative, got ${r.memoryLimitInBytes}`);
  toSafeNumber(f('memory_limit_in_bytes'), r.memoryLimitInBytes);
  if (r.memorySwapLimitInBytes < -1n) {
    throw invalidArgument(`${f('memory_swap_limit_in_bytes')} must be -1 (unlimited), 0 (unset) or positive, got ${r.memorySwapLimitInBytes}`);
  }
  toSafeNumber(f('memory_swap_limit_in_bytes'), r.memorySwapLimitInBytes);
  if (r.memorySwapLimitInBytes > 0n) {
    if (r.memoryLimitInBytes === 0n) {
      throw invalidArgument(`${f('memory_swap_limit_in_bytes')} is set without ${f('memory_limit_in_bytes')}`);
    }
    if (r.memorySwapLimitInBytes < r.memoryLimitInBytes) {
      throw invalidArgument(
        `${f('memory_swap_limit_in_bytes')} (memory+swap, ${r.memorySwapLimitInBytes}) must not be less than ` +
          `${f('memory_limit_in_bytes')} (${r.memoryLimitInBytes})`,
      );
    }
  }
  if (r.oomScoreAdj < -1000n || r.oomScoreAdj > 1000n) {
    throw invalidArgument(`${f('oom_score_adj')} must be between -1000 and 1000, got ${r.oomScoreAdj}`);
  }
  const seen = new Set<string>();
  for (const h of r.hugepageLimits) {
    if (!PAGE_SIZE.test(h.pageSize)) {
      throw invalidArgument(`${f('hugepage_limits')}: page size "${h.pageSize}" is not of the form <size><KB|MB|GB|TB|PB> (e.g. 2MB)`);
    }
    if (seen.has(h.pageSize)) throw invalidArgument(`${f('hugepage_limits')}: page size "${h.pageSize}" is given twice`);
    seen.add(h.pageSize);
    if (h.limit < 0n) throw invalidArgument(`${f('hugepage_limits')}: limit for ${h.pageSize} must not be negative, got ${h.limit}`);
    toSafeNumber(`${f('hugepage_limits')}[${h.pageSize}]`, h.limit);
  }
  const unified = Object.entries(r.unified);
  if (unified.length > 0 && !support.cgroupV2) {
    throw invalidArgument(`${f('unified')} (cgroup v2 files ${unified.map(([k]) => k).join(', ')}) cannot be set: this node uses cgroup v1`);
  }
  for (const [k] of unified) {
    if (!UNIFIED_KEY.test(k) || k.includes('..')) throw invalidArgument(`${f('unified')}: "${k}" is not a cgroup v2 interface file name`);
  }
}

/**
 * Maps container resources to linux.resources fields, merged over `base` (e.g. the default device rules).
 * Fields left at their CRI zero value are not written.
 */
export function toOciResources(
  r: cri.LinuxContainerResources,
  support: ResourceSupport,
  base: LinuxResources = {},
  what = 'resources',
): LinuxResources {
  validateResources(r, support, what);
  const out: LinuxResources = { ...base };
  const cpu: LinuxCpu = { ...base.cpu };
  if (r.cpuShares !== 0n) cpu.shares = Number(r.cpuShares);
  if (r.cpuQuota !== 0n) cpu.quota = Number(r.cpuQuota);
  if (r.cpuPeriod !== 0n) cpu.period = Number(r.cpuPeriod);
  if (r.cpusetCpus !== '') cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== '') cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  const memory: LinuxMemory = { ...base.memory };
  if (r.memoryLimitInBytes !== 0n) {
    memory.limit = Number(r.memoryLimitInBytes);
    // memory+swap equal to the limit: no swapping unless swap is asked for (containerd's behaviour).
    if (r.memorySwapLimitInBytes === 0n && support.swap) memory.swap = memory.limit;
  }
  if (r.memorySwapLimitInBytes !== 0n && support.swap) memory.swap = Number(r.memorySwapLimitInBytes);
  if (Object.keys(memory).length > 0) out.memory = memory;

  if (r.hugepageLimits.length > 0 && support.hugetlb) {
    const limits: LinuxHugepageLimit[] = r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: Number(h.limit) }));
    out.hugepageLimits = [...(base.hugepageLimits ?? []), ...limits];
  }
  const unified = Object.entries(r.unified);
  if (unified.length > 0) out.unified = { ...base.unified, ...Object.fromEntries(unified) };
  return out;
}

/** The annotations containerd sets on a sandbox from the pod's summed container resources (linux.resources). */
export const SANDBOX_CPU_PERIOD_ANNOTATION = 'io.kubernetes.cri.sandbox-cpu-period';
export const SANDBOX_CPU_QUOTA_ANNOTATION = 'io.kubernetes.cri.sandbox-cpu-quota';
export const SANDBOX_CPU_SHARES_ANNOTATION = 'io.kubernetes.cri.sandbox-cpu-shares';
export const SANDBOX_MEMORY_ANNOTATION = 'io.kubernetes.cri.sandbox-memory';

/**
 * The pod-level resources of a sandbox: the pause container itself gets only minimal CPU shares (its cgroup
 * parent, the pod cgroup kubelet manages, carries the pod's limits); the pod's summed resources are recorded as
 * annotations for runtimes that size a VM from them. `overhead` is validated but (with runc) has no effect.
 */
export function sandboxResources(
  linux: cri.LinuxPodSandboxConfig | undefined,
  support: ResourceSupport,
): { resources: LinuxResources; annotations: Record<string, string> } {
  const annotations: Record<string, string> = {};
  if (linux?.overhead) validateResources(linux.overhead, support, 'overhead');
  const res = linux?.resources;
  if (res) {
    validateResources(res, support, 'resources');
    annotations[SANDBOX_CPU_PERIOD_ANNOTATION] = res.cpuPeriod.toString();
    annotations[SANDBOX_CPU_QUOTA_ANNOTATION] = res.cpuQuota.toString();
    annotations[SANDBOX_CPU_SHARES_ANNOTATION] = res.cpuShares.toString();
    annotations[SANDBOX_MEMORY_ANNOTATION] = res.memoryLimitInBytes.toString();
  }
  return { resources: { cpu: { shares: SANDBOX_CPU_SHARES } }, annotations };
}
