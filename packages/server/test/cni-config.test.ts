import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadCniConfig, networkCondition, parseCniConfig } from '../src/network/cni-config';
import { tempDir } from './temp-dir';

function dirs(): { conf: string; bin: string } {
  const root = tempDir('crisp-cni-');
  const conf = path.join(root, 'net.d');
  const bin = path.join(root, 'bin');
  mkdirSync(conf);
  mkdirSync(bin);
  for (const p of ['bridge', 'loopback', 'portmap']) {
    writeFileSync(path.join(bin, p), '#!/bin/sh\n');
    chmodSync(path.join(bin, p), 0o755);
  }
  return { conf, bin };
}

const conflist = (name: string, types: string[]): string =>
  JSON.stringify({ cniVersion: '1.0.0', name, plugins: types.map((type) => ({ type })) });

describe('CNI config', () => {
  it('lifts a single .conf into a one-plugin list', () => {
    const n = parseCniConfig('/x/10-a.conf', JSON.stringify({ cniVersion: '0.4.0', name: 'a', type: 'bridge', bridge: 'cni0' }));
    expect(n.name).toBe('a');
    expect(n.plugins).toEqual([{ cniVersion: '0.4.0', name: 'a', type: 'bridge', bridge: 'cni0' }]);
  });

  it.each([
    ['{', /invalid JSON/],
    ['[]', /not a JSON object/],
    [JSON.stringify({ name: 'x', plugins: [] }), /non-empty list/],
    [JSON.stringify({ name: 'x', plugins: [{}] }), /plugins\[0\] has no "type"/],
    [JSON.stringify({ plugins: [{ type: 'bridge' }] }), /missing network "name"/],
  ])('rejects %s', (text, why) => {
    expect(() => parseCniConfig('/x/a.conflist', text)).toThrow(why);
  });

  it('takes the first valid file in lexical order, skipping broken ones and other extensions', async () => {
    const { conf, bin } = dirs();
    writeFileSync(path.join(conf, '05-broken.conflist'), '{nope');
    writeFileSync(path.join(conf, '07-missing-plugin.conflist'), conflist('m', ['flannel']));
    writeFileSync(path.join(conf, '10-good.conflist'), conflist('good', ['bridge', 'portmap']));
    writeFileSync(path.join(conf, '20-later.conflist'), conflist('later', ['bridge']));
    writeFileSync(path.join(conf, '00-ignored.txt'), conflist('ignored', ['bridge']));
    const load = await loadCniConfig(conf, ['/nonexistent', bin]);
    expect(load.network?.name).toBe('good');
    expect(load.rejected.map((r) => path.basename(r.file))).toEqual(['05-broken.conflist', '07-missing-plugin.conflist']);
    expect(load.rejected[1]!.reason).toContain('plugin "flannel" not found');
    expect(networkCondition(load, conf).status).toBe(true);
  });

  it('explains why the network is not ready', async () => {
    const { conf, bin } = dirs();
    const empty = await loadCniConfig(conf, [bin]);
    expect(networkCondition(empty, conf)).toEqual({
      status: false,
      reason: 'NetworkPluginNotReady',
      message: `no valid CNI network config in ${conf}`,
    });
    const missing = await loadCniConfig(path.join(conf, 'absent'), [bin]);
    expect(networkCondition(missing, conf).message).toContain('directory does not exist');
  });
});
