// usage_nano_cores: CPU time used per second of wall time, over a window between two samples, as
// kubelet and cAdvisor compute it: (usage₂ − usage₁) / (t₂ − t₁) × 1e9.
//
// containerd's CRI plugin keeps the previous sample per container, answers 0 on the first call and
// then rates over whatever window separates two calls, however short (two clients polling a few ms
// apart get a rate over a few ms). crisp:
// - shares one sample per container between every caller (container stats, pod stats, metrics);
// - moves that reference only once a window is at least MIN_WINDOW long: a call closer than that to
//   the reference gets the last full-window rate again instead of a noisy one;
// - first sample: a cgroup's CPU counter starts at 0 when it is created, and the container did not
//   exist before `createdAt`, so (0 at createdAt) is a true earlier sample. For a container created
//   less than FIRST_WINDOW_MAX ago (the common case: kubelet's first poll after a start) the first
//   answer is its average since creation. Otherwise (crisp just restarted, the container is old) the
//   rate is absent rather than a 0 that reads as an idle container; the next call has one.
// Entries of containers that are gone are dropped by retain(): the map is bounded by the containers
// and pods crisp knows.

export const MIN_WINDOW_NS = 1_000_000_000n;
export const FIRST_WINDOW_MAX_NS = 120_000_000_000n;
const NS_PER_S = 1_000_000_000n;

interface Sample {
  usageNs: bigint;
  timestamp: bigint;
}

interface Entry {
  ref: Sample;
  /** The rate over the last full window, if there was one. */
  rate: bigint | undefined;
}

export function rateOf(prev: Sample, cur: Sample): bigint | undefined {
  const dt = cur.timestamp - prev.timestamp;
  if (dt <= 0n || cur.usageNs < prev.usageNs) return undefined;
  return ((cur.usageNs - prev.usageNs) * NS_PER_S) / dt;
}

export class CpuRateTracker {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly minWindowNs = MIN_WINDOW_NS,
    private readonly firstWindowMaxNs = FIRST_WINDOW_MAX_NS,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Records a sample of `id` and returns its usage_nano_cores, or undefined when there is no
   * window yet. `createdAtNs` (0 or absent: unknown) allows a first answer, see above.
   */
  observe(id: string, usageNs: bigint, timestamp: bigint, createdAtNs?: bigint): bigint | undefined {
    const cur = { usageNs, timestamp };
    const e = this.entries.get(id);
    if (!e) {
      let rate: bigint | undefined;
      if (createdAtNs !== undefined && createdAtNs > 0n && timestamp - createdAtNs <= this.firstWindowMaxNs) {
        rate = rateOf({ usageNs: 0n, timestamp: createdAtNs }, cur);
      }
      this.entries.set(id, { ref: cur, rate });
      return rate;
    }
    // A sample not newer than the reference: concurrent calls answered out of order.
    if (timestamp <= e.ref.timestamp) return e.rate;
    if (usageNs < e.ref.usageNs) {
      // A counter that went back (not for a live cgroup): start again from this sample.
      this.entries.set(id, { ref: cur, rate: undefined });
      return undefined;
    }
    if (timestamp - e.ref.timestamp < this.minWindowNs) return e.rate;
    const rate = rateOf(e.ref, cur);
    this.entries.set(id, { ref: cur, rate });
    return rate;
  }

  /** Drops the entries of every id not in `live`. */
  retain(live: ReadonlySet<string>): void {
    for (const id of this.entries.keys()) if (!live.has(id)) this.entries.delete(id);
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}
