import { mkdtempSync, mkdirSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PodNetworkReader, parseNetDev, splitDefault } from '../src/network';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
  eth0: 1234567     890    1    2    0     0          0         0   654321     456    3    4    0     0       0          0
  net1:      10       1    0    0    0     0          0         0       20       2    0    0    0     0       0          0
`;

describe('/proc/<pid>/net/dev', () => {
  it('parses every interface but lo', () => {
    const ifs = parseNetDev(NET_DEV);
    expect(ifs.map((i) => i.name)).toEqual(['eth0', 'net1']);
    expect(ifs[0]).toEqual({ name: 'eth0', rxBytes: 1234567n, rxPackets: 890n, rxErrors: 1n, rxDropped: 2n, txBytes: 654321n, txPackets: 456n, txErrors: 3n, txDropped: 4n });
  });

  it('takes eth0 as the default interface, else the first one', () => {
    const ifs = parseNetDev(NET_DEV);
    expect(splitDefault(ifs).defaultInterface?.name).toBe('eth0');
    expect(splitDefault(ifs).others.map((i) => i.name)).toEqual(['net1']);
    const noEth0 = ifs.filter((i) => i.name !== 'eth0');
    expect(splitDefault(noEth0)).toEqual({ defaultInterface: noEth0[0], others: [] });
    expect(splitDefault([])).toEqual({ defaultInterface: undefined, others: [] });
  });

  it('skips malformed lines', () => {
    expect(parseNetDev('eth0: 1 2 3\nfoo: a b c d e f g h i j k l m n o p\n')).toEqual([]);
  });
});

describe('PodNetworkReader', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crisp-stats-net-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A fake /proc: <dir>/proc/<pid>/{ns/net -> nsfile, net/dev}. */
  function fakeProc(pid: number, nsFile: string, dev: string): void {
    mkdirSync(path.join(dir, 'proc', String(pid), 'ns'), { recursive: true });
    mkdirSync(path.join(dir, 'proc', String(pid), 'net'), { recursive: true });
    rmSync(path.join(dir, 'proc', String(pid), 'ns', 'net'), { force: true });
    symlinkSync(nsFile, path.join(dir, 'proc', String(pid), 'ns', 'net'));
    writeFileSync(path.join(dir, 'proc', String(pid), 'net', 'dev'), dev);
  }

  it('reads the pause process counters only while it is in the pinned namespace, and caches its pid', async () => {
    const pinned = path.join(dir, 'netns-a');
    const other = path.join(dir, 'netns-b');
    writeFileSync(pinned, '');
    writeFileSync(other, '');
    fakeProc(10, pinned, NET_DEV);
    const reader = new PodNetworkReader(path.join(dir, 'proc'), () => 5n);
    let lookups = 0;
    const pid = async (): Promise<number> => (lookups++, 10);
    const n = await reader.read('pod', pinned, pid);
    expect(n?.timestamp).toBe(5n);
    expect(n?.defaultInterface?.rxBytes).toBe(1234567n);
    expect(n?.others.map((i) => i.name)).toEqual(['net1']);
    await reader.read('pod', pinned, pid);
    expect(lookups).toBe(1);

    // The pid now belongs to a process of another namespace: looked up again, and refused.
    fakeProc(10, other, NET_DEV);
    expect(await reader.read('pod', pinned, pid)).toBeUndefined();
    expect(lookups).toBe(2);
    expect(reader.size).toBe(0);
  });

  it('has nothing for host-network pods, gone namespaces or a pause that does not run', async () => {
    const reader = new PodNetworkReader(path.join(dir, 'proc'));
    expect(await reader.read('pod', undefined, async () => 1)).toBeUndefined();
    expect(await reader.read('pod', path.join(dir, 'missing'), async () => 1)).toBeUndefined();
    const pinned = path.join(dir, 'netns');
    writeFileSync(pinned, '');
    expect(await reader.read('pod', pinned, async () => 0)).toBeUndefined();
  });

  it('forgets pods that are gone', async () => {
    const pinned = path.join(dir, 'netns');
    writeFileSync(pinned, '');
    fakeProc(7, pinned, NET_DEV);
    const reader = new PodNetworkReader(path.join(dir, 'proc'));
    await reader.read('a', pinned, async () => 7);
    await reader.read('b', pinned, async () => 7);
    reader.retain(new Set(['b']));
    expect(reader.size).toBe(1);
  });
});
