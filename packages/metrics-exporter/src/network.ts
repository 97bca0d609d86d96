// A pod's network counters, read without entering its network namespace (Node cannot setns()):
// /proc/<pid>/net/dev lists the interfaces of the namespace that process lives in, so any process of
// the pod shows them; crisp reads the pause process's. A pid can be reused after its process dies,
// so the cached pid is trusted only while /proc/<pid>/ns/net is the very namespace pinned at the
// sandbox's netnsPath (same nsfs device and inode); otherwise it is looked up again.
import { promises as fs } from 'node:fs';

/** kubelet's default pod interface (cAdvisor and containerd report it as the default). */
export const DEFAULT_INTERFACE = 'eth0';

export interface InterfaceCounters {
  name: string;
  rxBytes: bigint;
  rxPackets: bigint;
  rxErrors: bigint;
  rxDropped: bigint;
  txBytes: bigint;
  txPackets: bigint;
  txErrors: bigint;
  txDropped: bigint;
}

export interface PodNetwork {
  /** When the counters were read, ns since the epoch. */
  timestamp: bigint;
  /** eth0, else the first interface; undefined when the pod has none but lo. */
  defaultInterface: InterfaceCounters | undefined;
  /** Every other interface (lo excluded). */
  others: InterfaceCounters[];
}

/**
 * Parses /proc/net/dev: two header lines, then `name: rx bytes packets errs drop fifo frame compressed
 * multicast tx bytes packets errs drop fifo colls carrier compressed`. `lo` is left out.
 */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === '' || name === 'lo' || name.includes('|')) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/);
    if (f.length < 16 || !f.every((v) => /^\d+$/.test(v))) continue;
    const n = (i: number): bigint => BigInt(f[i]!);
    out.push({ name, rxBytes: n(0), rxPackets: n(1), rxErrors: n(2), rxDropped: n(3), txBytes: n(8), txPackets: n(9), txErrors: n(10), txDropped: n(11) });
  }
  return out;
}

export function splitDefault(ifaces: InterfaceCounters[]): { defaultInterface: InterfaceCounters | undefined; others: InterfaceCounters[] } {
  const def = ifaces.find((i) => i.name === DEFAULT_INTERFACE) ?? ifaces[0];
  return { defaultInterface: def, others: ifaces.filter((i) => i !== def) };
}

interface NsId {
  dev: bigint;
  ino: bigint;
}

async function nsId(p: string): Promise<NsId | undefined> {
  try {
    const st = await fs.stat(p, { bigint: true });
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

const sameNs = (a: NsId | undefined, b: NsId | undefined): boolean => a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;

export class PodNetworkReader {
  /** Per sandbox: the pinned namespace's identity and a pid seen in it. Pruned by retain(). */
  private readonly known = new Map<string, { ns: NsId; pid: number }>();

  constructor(
    private readonly procRoot = '/proc',
    private readonly now: () => bigint = () => BigInt(Date.now()) * 1_000_000n,
  ) {}

  get size(): number {
    return this.known.size;
  }

  /**
   * The pod's counters, or undefined when it has no namespace of its own (host network), the
   * namespace is gone or no process of it runs. `pidOf` gives the pause pid (0: not running).
   */
  async read(sandboxId: string, netnsPath: string | undefined, pidOf: () => Promise<number>): Promise<PodNetwork | undefined> {
    if (!netnsPath) return undefined;
    let entry = this.known.get(sandboxId);
    if (entry && !sameNs(entry.ns, await nsId(`${this.procRoot}/${entry.pid}/ns/net`))) entry = undefined;
    if (!entry) {
      const ns = await nsId(netnsPath);
      if (!ns) return undefined;
      const pid = await pidOf();
      if (pid <= 0 || !sameNs(ns, await nsId(`${this.procRoot}/${pid}/ns/net`))) {
        this.known.delete(sandboxId);
        return undefined;
      }
      entry = { ns, pid };
      this.known.set(sandboxId, entry);
    }
    let text: string;
    try {
      text = await fs.readFile(`${this.procRoot}/${entry.pid}/net/dev`, 'utf8');
    } catch {
      this.known.delete(sandboxId);
      return undefined;
    }
    const timestamp = this.now();
    // The process could have died between the check and the read, its pid taken by a process of
    // another namespace: check again after reading.
    if (!sameNs(entry.ns, await nsId(`${this.procRoot}/${entry.pid}/ns/net`))) {
      this.known.delete(sandboxId);
      return undefined;
    }
    return { timestamp, ...splitDefault(parseNetDev(text)) };
  }

  retain(live: ReadonlySet<string>): void {
    for (const id of this.known.keys()) if (!live.has(id)) this.known.delete(id);
  }
}
