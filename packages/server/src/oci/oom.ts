// process.oomScoreAdj. Without CAP_SYS_RESOURCE (as on crisp's nodes) runc cannot set a value lower than its
// parent's, and crisp's own score is what runc inherits, so requests below it are raised to it (the peers'
// restrict_oom_score_adj). crisp reads its own score once (readOwnOomScoreAdj, the one function here doing I/O).
import { promises as fs } from 'node:fs';
import { invalidArgument } from '../errors';

export const OOM_SCORE_ADJ_MIN = -1000;
export const OOM_SCORE_ADJ_MAX = 1000;

/** kubelet's and containerd's score for the pause container: below every workload container (kubernetes#47938). */
export const SANDBOX_OOM_SCORE_ADJ = -998;

/** A requested oom_score_adj raised to `own` when lower; out-of-range requests are INVALID_ARGUMENT. */
export function clampOomScoreAdj(requested: number | bigint, own: number): number {
  const n = typeof requested === 'bigint' ? requested : BigInt(requested);
  if (n < BigInt(OOM_SCORE_ADJ_MIN) || n > BigInt(OOM_SCORE_ADJ_MAX)) {
    throw invalidArgument(`oom_score_adj must be between ${OOM_SCORE_ADJ_MIN} and ${OOM_SCORE_ADJ_MAX}, got ${requested}`);
  }
  return Math.max(Number(n), own);
}

/** Parses the contents of /proc/<pid>/oom_score_adj. */
export function parseOomScoreAdj(text: string): number {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw new Error(`invalid oom_score_adj "${t}"`);
  const n = Number(t);
  if (n < OOM_SCORE_ADJ_MIN || n > OOM_SCORE_ADJ_MAX) throw new Error(`invalid oom_score_adj ${n}`);
  return n;
}

/** crisp's own oom_score_adj, from /proc/self/oom_score_adj. */
export async function readOwnOomScoreAdj(file = '/proc/self/oom_score_adj'): Promise<number> {
  return parseOomScoreAdj(await fs.readFile(file, 'utf8'));
}
