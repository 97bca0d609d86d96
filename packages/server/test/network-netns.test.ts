// What of netns.ts runs without root: names, and removal being idempotent. Creation and removal of
// real namespaces are in e2e/test/network.test.ts.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createNetns, netnsExists, NetnsError, removeNetns } from '../src/network/netns';

describe('netns', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crisp-netns-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each(['', '.', '..', 'a/b', '../../etc/x', 'x'.repeat(256)])('refuses the name %j before running anything', async (name) => {
    await expect(createNetns(name)).rejects.toThrow(NetnsError);
  });

  it('knows a namespace from a plain file', async () => {
    // /proc/self/ns/net is an nsfs file, like a pinned namespace.
    expect(await netnsExists('/proc/self/ns/net')).toBe(true);
    const file = path.join(dir, 'plain');
    writeFileSync(file, '');
    expect(await netnsExists(file)).toBe(false);
    expect(await netnsExists(path.join(dir, 'missing'))).toBe(false);
  });

  it('removes a path that is gone or no longer mounted, without complaint', async () => {
    await removeNetns(path.join(dir, 'missing'));
    const stale = path.join(dir, 'cni-stale');
    writeFileSync(stale, '');
    await removeNetns(stale);
    expect(existsSync(stale)).toBe(false);
    await removeNetns(stale);
  });

  it('wants an absolute path', async () => {
    await expect(removeNetns('cni-1')).rejects.toThrow(/absolute/);
  });
});
