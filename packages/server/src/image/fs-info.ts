// ImageFsInfo: the bytes and inodes the image layers take in the snapshotter (committed snapshots,
// which is what unpacked image layers are), and where that snapshotter keeps them.
import { snapshots } from '@crisp/api';
import { isNotFound } from '@crisp/containerd';
import path from 'node:path';
import type { CrispContext } from '../context';
import { mapLimit } from './concurrency';

/** Snapshots.Usage calls in flight at once. */
const USAGE_CONCURRENCY = 16;

/** `<containerd root>/io.containerd.snapshotter.v1.<snapshotter>`: where containerd's snapshotter plugin stores its data. */
export function snapshotterMountpoint(containerdRoot: string, snapshotter: string): string {
  return path.join(containerdRoot, `io.containerd.snapshotter.v1.${snapshotter}`);
}

export interface FsUsage {
  usedBytes: bigint;
  inodesUsed: bigint;
  /** How many committed snapshots were counted. */
  snapshots: number;
}

/** Sums Snapshots.Usage over the committed snapshots of `snapshotter` (one removed meanwhile counts 0). */
export async function committedSnapshotUsage(ctx: CrispContext, snapshotter: string, signal?: AbortSignal): Promise<FsUsage> {
  const names: string[] = [];
  for await (const res of ctx.containerd.snapshots.list({ snapshotter, filters: [] }, { signal })) {
    for (const info of res.info) if (info.kind === snapshots.Kind.COMMITTED) names.push(info.name);
  }
  const usages = await mapLimit(names, USAGE_CONCURRENCY, async (key) => {
    try {
      return await ctx.containerd.snapshots.usage({ snapshotter, key }, { signal });
    } catch (err) {
      if (isNotFound(err)) return { size: 0n, inodes: 0n };
      throw err;
    }
  });
  let usedBytes = 0n;
  let inodesUsed = 0n;
  for (const u of usages) {
    usedBytes += u.size > 0n ? u.size : 0n;
    inodesUsed += u.inodes > 0n ? u.inodes : 0n;
  }
  return { usedBytes, inodesUsed, snapshots: names.length };
}
