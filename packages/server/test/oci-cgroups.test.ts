import { cgroupsPath } from '../src/oci/cgroups';
import { invalid } from './expect-status';

const ID = 'a3f1c2d4e5b6';

describe('cgroupsPath', () => {
  it.each([
    ['/kubepods/besteffort/pod1234', `/kubepods/besteffort/pod1234/${ID}`],
    ['/kubepods/burstable/pod1234/', `/kubepods/burstable/pod1234/${ID}`],
    ['//kubepods//pod1234', `/kubepods/pod1234/${ID}`],
    ['/', `/${ID}`],
    ['', `/k8s.io/${ID}`],
    ['/kubepods.slice/pod.slice', `/kubepods.slice/pod.slice/${ID}`],
  ])('cgroupfs: parent %j', (parent, expected) => {
    expect(cgroupsPath('cgroupfs', parent, ID)).toBe(expected);
  });

  it('cgroupfs: a pod without a parent goes under the containerd namespace', () => {
    expect(cgroupsPath('cgroupfs', '', ID, 'crisp-test')).toBe(`/crisp-test/${ID}`);
  });

  it.each([
    ['kubepods-besteffort-pod1234.slice', `kubepods-besteffort-pod1234.slice:crisp:${ID}`],
    ['kubepods-burstable-pod12_34.slice', `kubepods-burstable-pod12_34.slice:crisp:${ID}`],
    ['kubepods.slice', `kubepods.slice:crisp:${ID}`],
    ['/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice', `kubepods-besteffort-pod1.slice:crisp:${ID}`],
    ['-.slice', `-.slice:crisp:${ID}`],
    ['', `system.slice:crisp:${ID}`],
  ])('systemd: parent %j', (parent, expected) => {
    expect(cgroupsPath('systemd', parent, ID)).toBe(expected);
  });

  it.each([
    ['kubepods-besteffort-pod1.slice', /systemd slice but crisp's cgroup_driver is "cgroupfs"/],
    ['kubepods/besteffort', /must be an absolute path/],
    ['/kubepods/../etc', /must not contain "\.\."/],
    ['/kubepods/./x', /must not contain "\."/],
    ['/kube:pods', /must not contain ':'/],
  ])('cgroupfs rejects parent %j', (parent, message) => {
    expect(invalid(() => cgroupsPath('cgroupfs', parent, ID))).toMatch(message);
  });

  it.each([
    ['/kubepods/besteffort/pod1234', /is not a systemd slice .* cgroup_driver is "systemd"/],
    ['kubepods-besteffort-pod1234', /is not a systemd slice/],
    ['kube pods.slice', /not a valid systemd unit name/],
    ['kube:pods.slice', /not a valid systemd unit name/],
    ['kubepods--x.slice', /invalid slice name/],
    ['-kubepods.slice', /invalid slice name/],
    ['kubepods-.slice', /invalid slice name/],
    ['.slice', /invalid slice name/],
  ])('systemd rejects parent %j', (parent, message) => {
    expect(invalid(() => cgroupsPath('systemd', parent, ID))).toMatch(message);
  });

  it.each([[''], ['a/b'], ['..'], ['a:b']])('rejects container id %j', (id) => {
    expect(invalid(() => cgroupsPath('cgroupfs', '/kubepods', id))).toMatch(/container id/);
  });

  it('rejects an unknown driver', () => {
    expect(invalid(() => cgroupsPath('cgroupv3' as never, '/x', ID))).toMatch(/unknown cgroup driver "cgroupv3"/);
  });
});
