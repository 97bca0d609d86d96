// containerd filter syntax for Tasks.Metrics and Tasks.List: one `id==<id>` per task; containerd ORs
// the filters it is given, and asks only the matching tasks' shims for their cgroup stats.
//
// containerd 1.6 asks those shims one after the other within a call, so the latency of one call grows
// with the task count (~2 ms a task). metricsGroups() splits a large set of tasks into a few disjoint
// groups that can be asked concurrently: the shims then answer in parallel, for the same total work
// (each shim is asked once).

export function taskFilters(ids: Iterable<string>): string[] {
  const out: string[] = [];
  for (const id of new Set(ids)) out.push(/^[A-Za-z0-9_.-]+$/.test(id) ? `id==${id}` : `id==${JSON.stringify(id)}`);
  return out;
}

/** At most this many concurrent Tasks.Metrics calls for one collection. */
export const METRICS_PARALLEL = 4;
/** No group smaller than this: below it a second call costs more than it saves. */
export const METRICS_MIN_GROUP = 16;

/** The filter lists of the concurrent Tasks.Metrics calls that cover `ids` (none for no id). */
export function metricsGroups(ids: Iterable<string>, parallel = METRICS_PARALLEL, minGroup = METRICS_MIN_GROUP): string[][] {
  const all = taskFilters(ids);
  if (all.length === 0) return [];
  const groups = Math.max(1, Math.min(parallel, Math.floor(all.length / minGroup)));
  const size = Math.ceil(all.length / groups);
  const out: string[][] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size));
  return out;
}
