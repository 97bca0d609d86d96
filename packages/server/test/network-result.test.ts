import { CniResultError, compareCniVersions, parseCniResult, podIPs } from '../src/network/cni-result';

describe('CNI result parsing', () => {
  it('takes a 1.0.0 result as it is', () => {
    const r = parseCniResult({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cni0', mac: '11:22:33:44:55:66' },
        { name: 'veth1', mac: 'aa:bb:cc:dd:ee:ff' },
        { name: 'eth0', mac: '0a:58:0a:58:00:05', mtu: 1500, sandbox: '/var/run/netns/cni-1' },
      ],
      ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.1.0.0/16', gw: '10.88.0.254', priority: 5 }],
      dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
    });
    expect(r).toEqual({
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cni0', mac: '11:22:33:44:55:66' },
        { name: 'veth1', mac: 'aa:bb:cc:dd:ee:ff' },
        { name: 'eth0', mac: '0a:58:0a:58:00:05', mtu: 1500, sandbox: '/var/run/netns/cni-1' },
      ],
      ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 }],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.1.0.0/16', gw: '10.88.0.254', priority: 5 }],
      dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
    });
  });

  it.each(['0.3.0', '0.3.1', '0.4.0'])('drops the per-IP "version" of %s', (v) => {
    const r = parseCniResult({
      cniVersion: v,
      interfaces: [{ name: 'eth0', sandbox: '/proc/1/ns/net' }],
      ips: [
        { version: '4', address: '10.1.2.3/24', gateway: '10.1.2.1', interface: 0 },
        { version: '6', address: 'fd00::3/64', interface: 0 },
      ],
    });
    expect(r.ips).toEqual([
      { address: '10.1.2.3/24', gateway: '10.1.2.1', interface: 0 },
      { address: 'fd00::3/64', interface: 0 },
    ]);
    expect(r.routes).toEqual([]);
    expect(r.dns).toEqual({});
  });

  it.each(['0.2.0', '0.1.0', undefined])('lifts ip4/ip6 of %s into ips and routes', (v) => {
    const r = parseCniResult({
      ...(v ? { cniVersion: v } : {}),
      ip4: { ip: '10.5.0.9/16', gateway: '10.5.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.5.0.1' }] },
      ip6: { ip: '2001:db8::9/64', routes: [{ dst: '::/0' }] },
      dns: { nameservers: ['10.5.0.1'] },
    });
    expect(r).toEqual({
      cniVersion: v ?? '0.1.0',
      interfaces: [],
      ips: [{ address: '10.5.0.9/16', gateway: '10.5.0.1' }, { address: '2001:db8::9/64' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.5.0.1' }, { dst: '::/0' }],
      dns: { nameservers: ['10.5.0.1'] },
    });
  });

  it('ignores an interface index that points nowhere', () => {
    const r = parseCniResult({ cniVersion: '1.0.0', interfaces: [], ips: [{ address: '10.0.0.2/24', interface: 3 }] });
    expect(r.ips).toEqual([{ address: '10.0.0.2/24' }]);
  });

  it.each([
    [null, /not a JSON object/],
    [[], /not a JSON object/],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2' }] }, /ips\[0\].*CIDR/],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.300/24' }] }, /CIDR/],
    [{ cniVersion: '1.0.0', ips: [{ address: '10.0.0.3/33' }] }, /CIDR/],
    [{ cniVersion: '1.0.0', ips: {} }, /"ips" must be a list/],
    [{ cniVersion: '1.0.0', interfaces: [{}] }, /interfaces\[0\] has no "name"/],
    [{ cniVersion: '0.2.0', ip4: { ip: 'nope' } }, /ip4/],
  ])('rejects %j', (raw, why) => {
    expect(() => parseCniResult(raw)).toThrow(CniResultError);
    expect(() => parseCniResult(raw)).toThrow(why);
  });

  it('compares versions numerically', () => {
    expect(compareCniVersions('0.10.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareCniVersions('0.4.0', '0.4.0')).toBe(0);
    expect(compareCniVersions('0.3.1', '0.4.0')).toBeLessThan(0);
    expect(compareCniVersions('1.0.0', '0.4.0')).toBeGreaterThan(0);
    expect(compareCniVersions('1.0', '1.0.0')).toBe(0);
  });
});

describe('podIPs', () => {
  const dualStack = parseCniResult({
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cni0' }, { name: 'veth0' }, { name: 'eth0', sandbox: '/var/run/netns/x' }, { name: 'net1', sandbox: '/var/run/netns/x' }],
    ips: [
      { address: 'fd00:10::5/64', interface: 2 },
      { address: '10.88.0.1/16', interface: 0 },
      { address: '10.88.0.5/16', interface: 2 },
      { address: '192.168.5.5/24', interface: 3 },
    ],
  });

  it('puts IPv4 first, keeps the plugin order within a family, and skips host-side addresses', () => {
    expect(podIPs(dualStack)).toEqual(['10.88.0.5', '192.168.5.5', 'fd00:10::5']);
  });

  it('only takes the named interface when given', () => {
    expect(podIPs(dualStack, 'eth0')).toEqual(['10.88.0.5', 'fd00:10::5']);
    expect(podIPs(dualStack, 'net1')).toEqual(['192.168.5.5']);
  });

  it('takes all addresses when none is tied to a sandbox interface', () => {
    const r = parseCniResult({ cniVersion: '0.4.0', ips: [{ version: '6', address: '2001:db8::2/64' }, { version: '4', address: '10.1.0.2/24' }] });
    expect(podIPs(r)).toEqual(['10.1.0.2', '2001:db8::2']);
    const old = parseCniResult({ cniVersion: '0.2.0', ip6: { ip: 'fd00::7/64' }, ip4: { ip: '10.2.0.7/24' } });
    expect(podIPs(old, 'eth0')).toEqual(['10.2.0.7', 'fd00::7']);
  });

  it('lists an address once', () => {
    const r = parseCniResult({ cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }, { address: '10.1.0.2/16' }] });
    expect(podIPs(r)).toEqual(['10.1.0.2']);
  });

  it('is empty for a result without addresses', () => {
    expect(podIPs(parseCniResult({ cniVersion: '1.0.0' }))).toEqual([]);
  });
});
