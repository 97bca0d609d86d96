import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CrispError } from '../src/errors';
import { RENDERED_CONFLIST, applyPodCidr, parsePodCidrs, renderConfTemplate } from '../src/network/pod-cidr';
import { tempDir } from './temp-dir';

describe('pod CIDR', () => {
  it('parses single and dual-stack CIDRs and rejects junk', () => {
    expect(parsePodCidrs('10.244.1.0/24')).toEqual(['10.244.1.0/24']);
    expect(parsePodCidrs('10.244.1.0/24, fd00:10::/64')).toEqual(['10.244.1.0/24', 'fd00:10::/64']);
    expect(parsePodCidrs('')).toEqual([]);
    expect(() => parsePodCidrs('10.244.1.0')).toThrow(CrispError);
    expect(() => parsePodCidrs('not-a-cidr/24')).toThrow(/invalid pod CIDR "not-a-cidr\/24"/);
  });

  it('renders the template placeholders', () => {
    const t = '{"subnet":"{{.PodCIDR}}","ranges":{{.PodCIDRRanges}}}';
    expect(JSON.parse(renderConfTemplate(t, ['10.1.0.0/24', 'fd00::/64']))).toEqual({
      subnet: '10.1.0.0/24',
      ranges: [[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]],
    });
  });

  it('writes the rendered conflist, or nothing without a template', async () => {
    const dir = tempDir('crisp-podcidr-');
    const tpl = path.join(dir, 'tpl.json');
    writeFileSync(tpl, '{"cniVersion":"1.0.0","name":"k","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":{{.PodCIDRRanges}}}}]}');
    const conf = path.join(dir, 'net.d');
    expect(await applyPodCidr('10.9.0.0/24', '', conf)).toBeUndefined();
    const written = await applyPodCidr('10.9.0.0/24', tpl, conf);
    expect(written).toBe(path.join(conf, RENDERED_CONFLIST));
    expect(JSON.parse(readFileSync(written!, 'utf8')).plugins[0].ipam.ranges).toEqual([[{ subnet: '10.9.0.0/24' }]]);
    writeFileSync(tpl, '{"broken": {{.PodCIDR}}}');
    await expect(applyPodCidr('10.9.0.0/24', tpl, conf)).rejects.toThrow(/does not render to JSON/);
  });
});
