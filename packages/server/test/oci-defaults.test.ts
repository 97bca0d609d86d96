import {
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  OCI_VERSION,
  defaultDeviceRules,
  defaultSpec,
} from '../src/oci/defaults';

describe('default spec', () => {
  const spec = defaultSpec();

  it('has the version, rootfs and root process of containerd default', () => {
    expect(spec.ociVersion).toBe(OCI_VERSION);
    expect(spec.root).toEqual({ path: 'rootfs' });
    expect(spec.process).toMatchObject({ terminal: false, user: { uid: 0, gid: 0 }, cwd: '/', noNewPrivileges: true });
    expect(spec.process?.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
  });

  it('sets no rlimits (the CRI plugin removes them) and no cgroups path', () => {
    expect(spec.process?.rlimits).toBeUndefined();
    expect(spec.linux?.cgroupsPath).toBeUndefined();
  });

  it('has the 14 default capabilities in bounding, effective and permitted, none inheritable', () => {
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(DEFAULT_CAPABILITIES).toEqual(
      expect.arrayContaining(['CAP_CHOWN', 'CAP_NET_RAW', 'CAP_SETPCAP', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE']),
    );
    expect(DEFAULT_CAPABILITIES).not.toContain('CAP_SYS_ADMIN');
    const caps = spec.process?.capabilities;
    expect(caps?.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(caps?.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(caps?.permitted).toEqual([...DEFAULT_CAPABILITIES]);
    expect(caps?.inheritable).toBeUndefined();
    expect(caps?.ambient).toBeUndefined();
  });

  it.each([
    ['/proc', 'proc', 'proc', ['nosuid', 'noexec', 'nodev']],
    ['/dev', 'tmpfs', 'tmpfs', ['nosuid', 'strictatime', 'mode=755', 'size=65536k']],
    ['/dev/pts', 'devpts', 'devpts', ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']],
    ['/dev/shm', 'tmpfs', 'shm', ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']],
    ['/dev/mqueue', 'mqueue', 'mqueue', ['nosuid', 'noexec', 'nodev']],
    ['/sys', 'sysfs', 'sysfs', ['nosuid', 'noexec', 'nodev', 'ro']],
    ['/sys/fs/cgroup', 'cgroup', 'cgroup', ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']],
  ])('mounts %s (%s)', (destination, type, source, options) => {
    expect(spec.mounts).toContainEqual({ destination, type, source, options });
  });

  it('has no /run tmpfs and mounts parents before children', () => {
    const dests = spec.mounts!.map((m) => m.destination);
    expect(dests).not.toContain('/run');
    expect(dests.indexOf('/dev')).toBeLessThan(dests.indexOf('/dev/pts'));
    expect(dests.indexOf('/sys')).toBeLessThan(dests.indexOf('/sys/fs/cgroup'));
  });

  it('masks and write-protects the sensitive /proc and /sys paths', () => {
    expect(spec.linux?.maskedPaths).toEqual([...DEFAULT_MASKED_PATHS]);
    expect(spec.linux?.maskedPaths).toEqual(expect.arrayContaining(['/proc/kcore', '/proc/keys', '/sys/firmware', '/proc/acpi']));
    expect(spec.linux?.readonlyPaths).toEqual([...DEFAULT_READONLY_PATHS]);
    expect(spec.linux?.readonlyPaths).toEqual(expect.arrayContaining(['/proc/sys', '/proc/sysrq-trigger', '/proc/bus']));
  });

  it('denies all devices, then allows the standard character devices', () => {
    const rules = spec.linux?.resources?.devices;
    expect(rules?.[0]).toEqual({ allow: false, access: 'rwm' });
    expect(rules).toContainEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }); // null
    expect(rules).toContainEqual({ allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }); // urandom
    expect(rules).toContainEqual({ allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }); // ptmx
    expect(rules).toContainEqual({ allow: true, type: 'c', major: 136, access: 'rwm' }); // pts/*
    expect(rules!.slice(1).every((r) => r.allow && r.type === 'c')).toBe(true);
    expect(defaultDeviceRules()).toEqual(rules);
  });

  it('creates new pid, ipc, uts, mount and network namespaces', () => {
    expect(spec.linux?.namespaces?.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'uts']);
    expect(spec.linux?.namespaces?.every((n) => n.path === undefined)).toBe(true);
  });

  it('returns independent objects on every call', () => {
    const a = defaultSpec();
    a.process!.capabilities!.bounding!.push('CAP_SYS_ADMIN');
    a.mounts!.pop();
    a.linux!.maskedPaths!.length = 0;
    const b = defaultSpec();
    expect(b.process!.capabilities!.bounding).toHaveLength(14);
    expect(b.mounts).toHaveLength(7);
    expect(b.linux!.maskedPaths!.length).toBeGreaterThan(0);
  });

  it('serialises with the spec JSON field names', () => {
    const json = JSON.stringify(defaultSpec());
    for (const k of ['"ociVersion"', '"noNewPrivileges"', '"maskedPaths"', '"readonlyPaths"', '"namespaces"', '"devices"']) {
      expect(json).toContain(k);
    }
  });
});
