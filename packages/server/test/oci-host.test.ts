import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ALL_CAPABILITIES } from '../src/oci/capabilities';
import { detectResourceSupport, readOwnCapabilities } from '../src/oci/host';
import type { Spec } from '../src/oci/types';
import { applyPrivileged, apparmorProfile } from '../src/oci/security';
import { defaultSpec } from '../src/oci/defaults';
import { cri } from '@crisp/api';
import { tempDir } from './temp-dir';

describe('node facts', () => {
  it('reads its own capabilities from /proc/self/status', async () => {
    const caps = await readOwnCapabilities();
    expect(caps.every((c) => ALL_CAPABILITIES.includes(c))).toBe(true);
  });

  it('reads CapPrm from a given status file', async () => {
    const dir = tempDir('crisp-proc-');
    writeFileSync(path.join(dir, 'status'), 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000021\nCapEff:\t0000000000000000\n');
    await expect(readOwnCapabilities(dir)).resolves.toEqual(['CAP_CHOWN', 'CAP_KILL']);
    writeFileSync(path.join(dir, 'status'), 'Name:\tnode\n');
    await expect(readOwnCapabilities(dir)).rejects.toThrow(/no CapPrm line/);
  });

  it('probes cgroup v1 controllers in a cgroup tree', async () => {
    const root = tempDir('crisp-cgroup-');
    mkdirSync(path.join(root, 'memory'));
    writeFileSync(path.join(root, 'memory', 'memory.memsw.limit_in_bytes'), '');
    await expect(detectResourceSupport(root)).resolves.toEqual({ cgroupV2: false, swap: true, hugetlb: false });
    mkdirSync(path.join(root, 'hugetlb'));
    await expect(detectResourceSupport(root)).resolves.toEqual({ cgroupV2: false, swap: true, hugetlb: true });
  });

  it('probes this node', async () => {
    const support = await detectResourceSupport();
    expect(typeof support.cgroupV2).toBe('boolean');
    expect(typeof support.swap).toBe('boolean');
    expect(typeof support.hugetlb).toBe('boolean');
  });
});

describe('security helpers', () => {
  it('applyPrivileged makes a default spec privileged', () => {
    const spec: Spec = defaultSpec();
    spec.linux!.seccomp = { defaultAction: 'SCMP_ACT_ERRNO' };
    spec.process!.apparmorProfile = 'x';
    applyPrivileged(spec, ['CAP_CHOWN', 'CAP_SYS_ADMIN']);
    expect(spec.process?.capabilities).toEqual({
      bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN'],
      effective: ['CAP_CHOWN', 'CAP_SYS_ADMIN'],
      permitted: ['CAP_CHOWN', 'CAP_SYS_ADMIN'],
    });
    expect(spec.process?.apparmorProfile).toBeUndefined();
    expect(spec.linux?.seccomp).toBeUndefined();
    expect(spec.linux?.maskedPaths).toBeUndefined();
    expect(spec.linux?.readonlyPaths).toBeUndefined();
    expect(spec.linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.mounts?.filter((m) => m.options?.includes('ro'))).toEqual([]);
  });

  it.each<[cri.SecurityProfile | undefined, string, boolean, boolean, string | undefined | RegExp]>([
    [undefined, '', false, false, undefined],
    [undefined, 'runtime/default', false, false, undefined],
    [undefined, 'unconfined', false, true, undefined],
    [undefined, 'localhost/my-profile', false, true, 'my-profile'],
    [undefined, 'localhost/my-profile', true, false, undefined],
    [undefined, 'localhost/my-profile', false, false, /not enabled on this node/],
    [undefined, 'bogus', false, false, /invalid apparmor_profile "bogus"/],
    [{ profileType: cri.SecurityProfile_ProfileType.Unconfined, localhostRef: '' }, '', false, true, undefined],
    [{ profileType: cri.SecurityProfile_ProfileType.Localhost, localhostRef: '' }, '', false, true, /needs localhost_ref/],
    [{ profileType: cri.SecurityProfile_ProfileType.RuntimeDefault, localhostRef: 'x' }, '', false, true, /must only be set/],
  ])('apparmorProfile(%p, %j, privileged %p, enabled %p)', (profile, deprecated, privileged, enabled, expected) => {
    if (expected instanceof RegExp) {
      expect(() => apparmorProfile(profile, deprecated, privileged, enabled)).toThrow(expected);
    } else {
      expect(apparmorProfile(profile, deprecated, privileged, enabled)).toBe(expected);
    }
  });
});
