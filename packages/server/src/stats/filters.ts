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
