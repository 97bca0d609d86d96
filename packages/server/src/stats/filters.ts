// The stats filters: container stats by id, pod sandbox id and label selector; pod sandbox stats by id
// and label selector. Ids match in full or by prefix (crictl passes truncated ids), labels by equality.
import type { cri } from '@crisp/api';
import type { ContainerRecord } from '../container/record';
import type { SandboxRecord } from '../sandbox/record';
import { matchesId, matchesLabels } from '../store/filters';

export function selectContainers(all: readonly ContainerRecord[], filter: cri.ContainerStatsFilter | undefined): ContainerRecord[] {
  if (!filter) return [...all];
  return all.filter(
    (c) => matchesId(filter.id, c.id) && matchesId(filter.podSandboxId, c.sandboxId) && matchesLabels(filter.labelSelector, c.config.labels),
  );
}

export function selectSandboxes(all: readonly SandboxRecord[], filter: cri.PodSandboxStatsFilter | undefined): SandboxRecord[] {
  if (!filter) return [...all];
  return all.filter((s) => matchesId(filter.id, s.id) && matchesLabels(filter.labelSelector, s.config.labels));
}

/** containerd filter syntax: one `id==<id>` per task; Tasks.Metrics ORs the filters it is given. */
export function taskFilters(ids: Iterable<string>): string[] {
  const out: string[] = [];
  for (const id of new Set(ids)) out.push(/^[A-Za-z0-9_.-]+$/.test(id) ? `id==${id}` : `id==${JSON.stringify(id)}`);
  return out;
}
