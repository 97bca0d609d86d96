import {
  ALL_CAPABILITIES,
  allCapabilities,
  applyCapabilityChanges,
  capabilitySets,
  containerCapabilities,
  normalizeCapability,
  parseCapabilityMask,
} from '../src/oci/capabilities';
import { DEFAULT_CAPABILITIES } from '../src/oci/defaults';
import { invalid } from './expect-status';

/** This node: every capability but CAP_SYS_RESOURCE (bit 24). */
const OWN = parseCapabilityMask('000001fffeffffff');

describe('capabilities', () => {
  it('knows the 41 capabilities of runc 1.1 in bit order', () => {
    expect(ALL_CAPABILITIES).toHaveLength(41);
    expect(ALL_CAPABILITIES[0]).toBe('CAP_CHOWN');
    expect(ALL_CAPABILITIES[21]).toBe('CAP_SYS_ADMIN');
    expect(ALL_CAPABILITIES[24]).toBe('CAP_SYS_RESOURCE');
    expect(ALL_CAPABILITIES[40]).toBe('CAP_CHECKPOINT_RESTORE');
    expect(new Set(ALL_CAPABILITIES).size).toBe(41);
  });

  it.each([
    ['NET_ADMIN', 'CAP_NET_ADMIN'],
    ['net_admin', 'CAP_NET_ADMIN'],
    ['CAP_NET_ADMIN', 'CAP_NET_ADMIN'],
    ['cap_sys_ptrace', 'CAP_SYS_PTRACE'],
    [' SYS_TIME ', 'CAP_SYS_TIME'],
  ])('normalises %j', (name, full) => {
    expect(normalizeCapability(name)).toBe(full);
  });

  it.each([['NET_ADMINS'], ['CAP_'], [''], ['ALL']])('rejects %j', (name) => {
    expect(invalid(() => normalizeCapability(name))).toMatch(/unknown capability/);
  });

  it.each<[string, string[], string[], string[]]>([
    ['no changes', [], [], [...DEFAULT_CAPABILITIES]],
    ['add one', ['NET_ADMIN'], [], [...DEFAULT_CAPABILITIES, 'CAP_NET_ADMIN']],
    ['add with prefix, twice', ['CAP_SYS_PTRACE', 'sys_ptrace'], [], [...DEFAULT_CAPABILITIES, 'CAP_SYS_PTRACE']],
    ['drop one', [], ['NET_RAW'], DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW')],
    ['drop ALL', [], ['ALL'], []],
    ['drop all (lower case)', [], ['all'], []],
    ['drop ALL, add one back', ['NET_BIND_SERVICE'], ['ALL'], ['CAP_NET_BIND_SERVICE']],
    ['add ALL', ['ALL'], [], [...ALL_CAPABILITIES]],
    ['add ALL, drop one', ['ALL'], ['SYS_ADMIN'], ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_ADMIN')],
    ['add and drop the same: drop wins', ['NET_ADMIN'], ['NET_ADMIN'], [...DEFAULT_CAPABILITIES]],
    ['drop one not held', [], ['SYS_ADMIN'], [...DEFAULT_CAPABILITIES]],
  ])('%s', (_name, add, drop, expected) => {
    const out = applyCapabilityChanges(DEFAULT_CAPABILITIES, add, drop);
    expect(new Set(out)).toEqual(new Set(expected));
    // always in bit order
    expect(out).toEqual(ALL_CAPABILITIES.filter((c) => out.includes(c)));
  });

  it('limits ALL to the capabilities crisp holds', () => {
    const out = applyCapabilityChanges(DEFAULT_CAPABILITIES, ['ALL'], [], OWN);
    expect(out).toHaveLength(40);
    expect(out).not.toContain('CAP_SYS_RESOURCE');
  });

  it('refuses to add a capability crisp does not hold', () => {
    expect(invalid(() => applyCapabilityChanges(DEFAULT_CAPABILITIES, ['SYS_RESOURCE'], [], OWN))).toMatch(
      /CAP_SYS_RESOURCE cannot be granted: crisp itself does not hold/,
    );
  });

  it('names the list of an unknown capability', () => {
    expect(invalid(() => applyCapabilityChanges(DEFAULT_CAPABILITIES, ['BOGUS'], []))).toMatch(/unknown capability to add "BOGUS"/);
    expect(invalid(() => applyCapabilityChanges(DEFAULT_CAPABILITIES, [], ['BOGUS']))).toMatch(/unknown capability to drop "BOGUS"/);
  });

  it('decodes /proc capability masks', () => {
    expect(parseCapabilityMask('0000000000000000')).toEqual([]);
    expect(parseCapabilityMask('0000000000000001')).toEqual(['CAP_CHOWN']);
    expect(parseCapabilityMask('000001ffffffffff')).toEqual([...ALL_CAPABILITIES]);
    expect(parseCapabilityMask('\t000001fffeffffff\n')).toHaveLength(40);
    expect(parseCapabilityMask('00000000a80425fb')).toEqual([
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_FOWNER',
      'CAP_FSETID',
      'CAP_KILL',
      'CAP_SETGID',
      'CAP_SETUID',
      'CAP_SETPCAP',
      'CAP_NET_BIND_SERVICE',
      'CAP_NET_RAW',
      'CAP_SYS_CHROOT',
      'CAP_MKNOD',
      'CAP_AUDIT_WRITE',
      'CAP_SETFCAP',
    ]);
    expect(() => parseCapabilityMask('xyz')).toThrow(/invalid capability mask/);
  });

  it('all = held ones when known, else every one', () => {
    expect(allCapabilities()).toEqual([...ALL_CAPABILITIES]);
    expect(allCapabilities(OWN)).toHaveLength(40);
    expect(allCapabilities(['CAP_KILL', 'CAP_UNKNOWN_NEW', 'CAP_CHOWN'])).toEqual(['CAP_CHOWN', 'CAP_KILL']);
  });

  it('builds process capability sets', () => {
    expect(capabilitySets(['CAP_KILL'])).toEqual({ bounding: ['CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] });
    expect(capabilitySets(['CAP_KILL', 'CAP_NET_ADMIN'], ['CAP_NET_ADMIN'])).toMatchObject({
      inheritable: ['CAP_NET_ADMIN'],
      ambient: ['CAP_NET_ADMIN'],
    });
  });

  describe('containerCapabilities', () => {
    it('gives a privileged container every capability crisp holds, ignoring add/drop', () => {
      const caps = containerCapabilities({ privileged: true, capabilities: { addCapabilities: [], dropCapabilities: ['ALL'], addAmbientCapabilities: [] } }, OWN);
      expect(caps.bounding).toHaveLength(40);
      expect(caps.permitted).toEqual(caps.bounding);
      expect(caps.effective).toEqual(caps.bounding);
    });

    it('applies add/drop and ambient capabilities', () => {
      const caps = containerCapabilities(
        { privileged: false, capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['MKNOD'], addAmbientCapabilities: ['net_admin'] } },
        OWN,
      );
      expect(caps.bounding).toContain('CAP_NET_ADMIN');
      expect(caps.bounding).not.toContain('CAP_MKNOD');
      expect(caps.ambient).toEqual(['CAP_NET_ADMIN']);
      expect(caps.inheritable).toEqual(['CAP_NET_ADMIN']);
    });

    it('refuses ambient capabilities outside the set', () => {
      expect(
        invalid(() =>
          containerCapabilities({ privileged: false, capabilities: { addCapabilities: [], dropCapabilities: [], addAmbientCapabilities: ['SYS_ADMIN'] } }),
        ),
      ).toMatch(/ambient capabilities CAP_SYS_ADMIN are not in the container's capability set/);
    });

    it('defaults without a capabilities field', () => {
      expect(containerCapabilities({ privileged: false }).bounding).toEqual([...DEFAULT_CAPABILITIES].sort((a, b) => ALL_CAPABILITIES.indexOf(a) - ALL_CAPABILITIES.indexOf(b)));
    });
  });
});
