import { cri } from '@crisp/api';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc-common';
import { ALL_CAPABILITIES } from '../src/oci/capabilities';
import { DEFAULT_CAPABILITIES } from '../src/oci/defaults';
import { readLocalhostSeccomp } from '../src/oci/host';
import { defaultSeccompProfile, parseSeccompProfile, seccompChoice } from '../src/oci/seccomp';
import type { LinuxSeccomp } from '../src/oci/types';
import { invalid } from './expect-status';
import { tempDir } from './temp-dir';

const { RuntimeDefault, Unconfined, Localhost } = cri.SecurityProfile_ProfileType;
const profile = (profileType: cri.SecurityProfile_ProfileType, localhostRef = ''): cri.SecurityProfile => ({ profileType, localhostRef });

const allowed = (p: LinuxSeccomp): Set<string> =>
  new Set(p.syscalls!.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names));

describe('seccompChoice', () => {
  it.each<[cri.SecurityProfile | undefined, string, boolean, object]>([
    [undefined, '', false, { kind: 'unconfined' }],
    [undefined, 'unconfined', false, { kind: 'unconfined' }],
    [undefined, 'runtime/default', false, { kind: 'runtime-default' }],
    [undefined, 'docker/default', false, { kind: 'runtime-default' }],
    [undefined, 'localhost//etc/seccomp/p.json', false, { kind: 'localhost', path: '/etc/seccomp/p.json' }],
    [profile(RuntimeDefault), '', false, { kind: 'runtime-default' }],
    [profile(Unconfined), 'runtime/default', false, { kind: 'unconfined' }],
    [profile(Localhost, '/var/lib/kubelet/seccomp/a.json'), '', false, { kind: 'localhost', path: '/var/lib/kubelet/seccomp/a.json' }],
    [profile(Localhost, 'localhost//var/lib/a.json'), '', false, { kind: 'localhost', path: '/var/lib/a.json' }],
    [profile(RuntimeDefault), '', true, { kind: 'unconfined' }],
    [undefined, 'runtime/default', true, { kind: 'unconfined' }],
  ])('%p / %j / privileged %p', (p, deprecated, privileged, expected) => {
    expect(seccompChoice(p, deprecated, privileged)).toEqual(expected);
  });

  it.each<[cri.SecurityProfile | undefined, string, RegExp]>([
    [undefined, 'bogus', /invalid seccomp_profile_path "bogus"/],
    [undefined, 'localhost/relative.json', /must be an absolute path/],
    [profile(Localhost, ''), '', /needs localhost_ref/],
    [profile(Localhost, '/a/../b.json'), '', /must not contain "\.\."/],
    [profile(RuntimeDefault, '/x.json'), '', /localhost_ref must only be set when profile_type is Localhost/],
    [profile(7 as cri.SecurityProfile_ProfileType), '', /unknown profile_type 7/],
  ])('rejects %p / %j', (p, deprecated, message) => {
    expect(invalid(() => seccompChoice(p, deprecated, false))).toMatch(message);
  });
});

describe('defaultSeccompProfile', () => {
  const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, 'x64');

  it('denies with EPERM by default, on x86_64 and its compat arches', () => {
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBeUndefined();
    expect(p.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(defaultSeccompProfile(DEFAULT_CAPABILITIES, 'arm64').architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('allows the ordinary syscalls and the arch ones', () => {
    for (const s of ['read', 'write', 'openat', 'execve', 'futex', 'epoll_pwait', 'clock_gettime', 'arch_prctl', 'chroot', 'ptrace']) {
      expect(allowed(p)).toContain(s);
    }
  });

  it('keeps out namespace, mount, module, reboot, keyring and io_uring syscalls without capabilities', () => {
    for (const s of ['mount', 'umount2', 'unshare', 'setns', 'init_module', 'reboot', 'kexec_load', 'add_key', 'keyctl', 'bpf', 'io_uring_setup', 'clone3', 'clone']) {
      expect(allowed(p)).not.toContain(s);
    }
  });

  it('allows clone only without namespace flags, and answers clone3 with ENOSYS', () => {
    const clone = p.syscalls!.find((s) => s.names.includes('clone'));
    expect(clone).toEqual({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    expect(p.syscalls!.find((s) => s.names.includes('clone3'))).toEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    expect(defaultSeccompProfile(DEFAULT_CAPABILITIES, 's390x').syscalls!.find((s) => s.names.includes('clone'))?.args?.[0]?.index).toBe(1);
  });

  it('allows personality only for the safe personas', () => {
    const values = p.syscalls!.filter((s) => s.names.includes('personality')).map((s) => s.args?.[0]?.value);
    expect(values).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  it('unlocks syscalls with capabilities', () => {
    const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_TIME'], 'x64');
    for (const s of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'process_vm_readv', 'clock_settime']) expect(allowed(admin)).toContain(s);
    expect(admin.syscalls!.some((s) => s.names.includes('clone') && s.args)).toBe(false);
    const all = defaultSeccompProfile(ALL_CAPABILITIES, 'x64');
    for (const s of ['init_module', 'reboot', 'acct', 'iopl', 'vhangup', 'open_by_handle_at', 'syslog']) expect(allowed(all)).toContain(s);
  });
});

describe('localhost profiles', () => {
  it('parses an OCI-format profile', () => {
    const text = JSON.stringify({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }, { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] }],
    });
    expect(parseSeccompProfile(text, '/p.json')).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
      ],
    });
  });

  it('parses a Docker-format profile (name, archMap, extra fields)', () => {
    const text = JSON.stringify({
      defaultAction: 'SCMP_ACT_LOG',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
      syscalls: [{ name: 'mkdir', action: 'SCMP_ACT_ALLOW', args: [], comment: 'x', includes: {}, excludes: {} }],
    });
    const out = parseSeccompProfile(text, '/p.json');
    expect(out.defaultAction).toBe('SCMP_ACT_LOG');
    expect(out.syscalls).toEqual([{ names: ['mkdir'], action: 'SCMP_ACT_ALLOW' }]);
    if (process.arch === 'x64') expect(out.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
  });

  it.each([
    ['{', /invalid JSON/],
    ['[]', /not a JSON object/],
    ['{"defaultAction":"SCMP_ACT_NOPE"}', /invalid defaultAction/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":{}}', /"syscalls" must be an array/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ALLOW"}]}', /syscalls\[0\]: missing names/],
    ['{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"nope"}]}', /syscalls\[0\]: invalid action/],
  ])('rejects %j', (text, message) => {
    expect(invalid(() => parseSeccompProfile(text, '/p.json'))).toMatch(message);
  });

  it('reads a profile file, and refuses a missing one', async () => {
    const dir = tempDir('crisp-seccomp-');
    const file = path.join(dir, 'p.json');
    writeFileSync(file, '{"defaultAction":"SCMP_ACT_ALLOW"}');
    await expect(readLocalhostSeccomp(file)).resolves.toEqual({ defaultAction: 'SCMP_ACT_ALLOW' });
    await expect(readLocalhostSeccomp(path.join(dir, 'missing.json'))).rejects.toMatchObject({
      code: Status.NOT_FOUND,
      message: expect.stringMatching(/missing\.json does not exist on this node/),
    });
    await expect(readLocalhostSeccomp(dir)).rejects.toMatchObject({
      code: Status.INVALID_ARGUMENT,
      message: expect.stringMatching(/cannot read localhost seccomp profile/),
    });
  });
});
