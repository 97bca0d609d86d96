import { cri } from '@crisp/api';
import { defaultDeviceRules } from '../src/oci/defaults';
import {
  SANDBOX_CPU_PERIOD_ANNOTATION,
  SANDBOX_CPU_QUOTA_ANNOTATION,
  SANDBOX_CPU_SHARES_ANNOTATION,
  SANDBOX_MEMORY_ANNOTATION,
  type ResourceSupport,
  sandboxResources,
  toOciResources,
  validateResources,
} from '../src/oci/resources';
import { invalid } from './expect-status';

const V1: ResourceSupport = { swap: true, hugetlb: true, cgroupV2: false };
const V2: ResourceSupport = { swap: true, hugetlb: true, cgroupV2: true };
const NONE: ResourceSupport = { swap: false, hugetlb: false, cgroupV2: false };

const res = (p: Partial<cri.LinuxContainerResources>): cri.LinuxContainerResources => cri.LinuxContainerResources.fromPartial(p);

describe('toOciResources', () => {
  it('sets nothing for unspecified (zero) values', () => {
    expect(toOciResources(res({}), V1)).toEqual({});
  });

  it.each<[string, Partial<cri.LinuxContainerResources>, ResourceSupport, object]>([
    ['cpu shares', { cpuShares: 512n }, V1, { cpu: { shares: 512 } }],
    ['cpu quota and period', { cpuQuota: 50000n, cpuPeriod: 100000n }, V1, { cpu: { quota: 50000, period: 100000 } }],
    ['unlimited quota', { cpuQuota: -1n, cpuPeriod: 100000n }, V1, { cpu: { quota: -1, period: 100000 } }],
    ['period alone', { cpuPeriod: 100000n }, V1, { cpu: { period: 100000 } }],
    ['cpusets', { cpusetCpus: '0-3,6', cpusetMems: '0' }, V1, { cpu: { cpus: '0-3,6', mems: '0' } }],
    ['memory limit, swap equal to it', { memoryLimitInBytes: 268435456n }, V1, { memory: { limit: 268435456, swap: 268435456 } }],
    ['memory limit without a swap controller', { memoryLimitInBytes: 268435456n }, NONE, { memory: { limit: 268435456 } }],
    [
      'memory and swap limits',
      { memoryLimitInBytes: 268435456n, memorySwapLimitInBytes: 536870912n },
      V1,
      { memory: { limit: 268435456, swap: 536870912 } },
    ],
    ['unlimited swap', { memoryLimitInBytes: 1048576n, memorySwapLimitInBytes: -1n }, V1, { memory: { limit: 1048576, swap: -1 } }],
    ['swap ignored without a swap controller', { memoryLimitInBytes: 1048576n, memorySwapLimitInBytes: -1n }, NONE, { memory: { limit: 1048576 } }],
    [
      'hugepages',
      { hugepageLimits: [{ pageSize: '2MB', limit: 4194304n }, { pageSize: '1GB', limit: 0n }] },
      V1,
      { hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }, { pageSize: '1GB', limit: 0 }] },
    ],
    ['hugepages skipped without the hugetlb controller', { hugepageLimits: [{ pageSize: '2MB', limit: 4194304n }] }, NONE, {}],
    ['unified on cgroup v2', { unified: { 'memory.high': '1073741824', 'io.weight': 'default 100' } }, V2, { unified: { 'memory.high': '1073741824', 'io.weight': 'default 100' } }],
  ])('%s', (_name, input, support, expected) => {
    expect(toOciResources(res(input), support)).toEqual(expected);
  });

  it('does not put oom_score_adj into the cgroup resources', () => {
    expect(toOciResources(res({ oomScoreAdj: 500n }), V1)).toEqual({});
  });

  it('merges over a base (the device rules stay)', () => {
    const base = { devices: defaultDeviceRules(), cpu: { shares: 2 } };
    const out = toOciResources(res({ cpuQuota: 20000n, cpuPeriod: 100000n }), V1, base);
    expect(out.devices).toEqual(defaultDeviceRules());
    expect(out.cpu).toEqual({ shares: 2, quota: 20000, period: 100000 });
    expect(base.cpu).toEqual({ shares: 2 });
  });

  it.each<[Partial<cri.LinuxContainerResources>, ResourceSupport, RegExp]>([
    [{ cpuPeriod: -1n }, V1, /cpu_period must not be negative/],
    [{ cpuPeriod: 999n }, V1, /cpu_period must be between 1000 and 1000000/],
    [{ cpuPeriod: 1000001n }, V1, /cpu_period must be between/],
    [{ cpuQuota: -2n, cpuPeriod: 100000n }, V1, /cpu_quota must be -1/],
    [{ cpuQuota: 500n, cpuPeriod: 100000n }, V1, /cpu_quota must be at least 1000/],
    [{ cpuQuota: 50000n }, V1, /cpu_quota 50000 is set without resources.cpu_period/],
    [{ cpuShares: -5n }, V1, /cpu_shares must not be negative/],
    [{ cpuShares: 1n }, V1, /cpu_shares must be between 2 and 262144/],
    [{ cpuShares: 262145n }, V1, /cpu_shares must be between/],
    [{ cpusetCpus: '0-' }, V1, /cpuset_cpus "0-" is not a cpu\/node list/],
    [{ cpusetCpus: 'all' }, V1, /cpuset_cpus/],
    [{ cpusetMems: '3-1' }, V1, /range "3-1" is reversed/],
    [{ memoryLimitInBytes: -1n }, V1, /memory_limit_in_bytes must not be negative/],
    [{ memoryLimitInBytes: 1n << 60n }, V1, /memory_limit_in_bytes \d+ is out of range/],
    [{ memorySwapLimitInBytes: -2n, memoryLimitInBytes: 1024n }, V1, /memory_swap_limit_in_bytes must be -1/],
    [{ memorySwapLimitInBytes: 1024n }, V1, /memory_swap_limit_in_bytes is set without resources.memory_limit_in_bytes/],
    [{ memorySwapLimitInBytes: 1024n, memoryLimitInBytes: 2048n }, V1, /must not be less than/],
    [{ oomScoreAdj: 1001n }, V1, /oom_score_adj must be between -1000 and 1000/],
    [{ hugepageLimits: [{ pageSize: '2M', limit: 1n }] }, V1, /page size "2M" is not of the form/],
    [{ hugepageLimits: [{ pageSize: '2MB', limit: -1n }] }, V1, /limit for 2MB must not be negative/],
    [{ hugepageLimits: [{ pageSize: '2MB', limit: 1n }, { pageSize: '2MB', limit: 2n }] }, V1, /"2MB" is given twice/],
    [{ unified: { 'memory.high': '1' } }, V1, /cannot be set: this node uses cgroup v1/],
    [{ unified: { '../../etc/passwd': 'x' } }, V2, /is not a cgroup v2 interface file name/],
    [{ unified: { 'memory/high': 'x' } }, V2, /is not a cgroup v2 interface file name/],
  ])('rejects %p', (input, support, message) => {
    expect(invalid(() => toOciResources(res(input), support))).toMatch(message);
  });

  it('names the field with the given prefix', () => {
    expect(invalid(() => validateResources(res({ cpuShares: 1n }), V1, 'overhead'))).toMatch(/^overhead\.cpu_shares/);
  });
});

describe('sandboxResources', () => {
  it('gives the pause container 2 CPU shares and no annotations without pod resources', () => {
    expect(sandboxResources(undefined, V1)).toEqual({ resources: { cpu: { shares: 2 } }, annotations: {} });
  });

  it('records the pod resources as annotations', () => {
    const linux = cri.LinuxPodSandboxConfig.fromPartial({
      resources: { cpuPeriod: 100000n, cpuQuota: 150000n, cpuShares: 1536n, memoryLimitInBytes: 536870912n },
      overhead: { cpuShares: 100n },
    });
    const out = sandboxResources(linux, V1);
    expect(out.resources).toEqual({ cpu: { shares: 2 } });
    expect(out.annotations).toEqual({
      [SANDBOX_CPU_PERIOD_ANNOTATION]: '100000',
      [SANDBOX_CPU_QUOTA_ANNOTATION]: '150000',
      [SANDBOX_CPU_SHARES_ANNOTATION]: '1536',
      [SANDBOX_MEMORY_ANNOTATION]: '536870912',
    });
  });

  it('validates pod resources and overhead', () => {
    expect(invalid(() => sandboxResources(cri.LinuxPodSandboxConfig.fromPartial({ resources: { cpuShares: -1n } }), V1))).toMatch(
      /^resources\.cpu_shares/,
    );
    expect(invalid(() => sandboxResources(cri.LinuxPodSandboxConfig.fromPartial({ overhead: { memoryLimitInBytes: -1n } }), V1))).toMatch(
      /^overhead\.memory_limit_in_bytes/,
    );
  });
});
