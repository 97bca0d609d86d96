import { normalizeSysctlName, validateSysctls } from '../src/oci/sysctl';
import { invalid } from './expect-status';

const POD = { network: true, ipc: true, uts: true };
const HOST_NET = { network: false, ipc: true, uts: false };
const HOST_IPC = { network: true, ipc: false, uts: true };

describe('sysctls', () => {
  it.each([
    ['net.ipv4.ip_forward', 'net.ipv4.ip_forward'],
    ['net/ipv4/ip_forward', 'net.ipv4.ip_forward'],
    ['net/ipv4/conf/eno2.100/rp_filter', 'net.ipv4.conf.eno2/100.rp_filter'],
    ['kernel.shmmax', 'kernel.shmmax'],
  ])('normalises %j', (name, expected) => {
    expect(normalizeSysctlName(name)).toBe(expected);
  });

  it.each([
    ['net.ipv4.ip_unprivileged_port_start', POD],
    ['net/ipv4/ping_group_range', POD],
    ['net.core.somaxconn', HOST_IPC],
    ['kernel.shm_rmid_forced', POD],
    ['kernel.msgmax', HOST_NET],
    ['fs.mqueue.msg_max', POD],
    ['kernel.domainname', POD],
  ])('allows %j', (name, ns) => {
    expect(() => validateSysctls({ [name]: '1' }, ns)).not.toThrow();
  });

  it.each([
    ['net.ipv4.ip_forward', HOST_NET, /"net.ipv4.ip_forward" is not allowed with the host network namespace/],
    ['net/core/somaxconn', HOST_NET, /host network namespace/],
    ['kernel.shmmax', HOST_IPC, /"kernel.shmmax" is not allowed with the host IPC namespace/],
    ['fs.mqueue.queues_max', HOST_IPC, /host IPC namespace/],
    ['kernel.domainname', HOST_NET, /host UTS namespace/],
    ['kernel.hostname', POD, /hostname is set from PodSandboxConfig.hostname/],
    ['vm.swappiness', POD, /"vm.swappiness" is not namespaced/],
    ['kernel.pid_max', POD, /not namespaced/],
    ['', POD, /invalid sysctl name/],
    ['net..x', POD, /invalid sysctl name/],
  ])('rejects %j', (name, ns, message) => {
    expect(invalid(() => validateSysctls({ [name]: '1' }, ns))).toMatch(message);
  });
});

describe('sysctls together', () => {
  it('checks every entry', () => {
    expect(() => validateSysctls({ 'kernel.sem': '250 32000 32 128', 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1' }, { network: true, ipc: true, uts: true })).not.toThrow();
    expect(() => validateSysctls({ 'kernel.sem': '250 32000 32 128', 'vm.overcommit_memory': '1' }, { network: true, ipc: true, uts: true })).toThrow(
      /vm.overcommit_memory/,
    );
  });
});
