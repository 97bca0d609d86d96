// CRI views of a sandbox record: the PodSandbox of list calls and the PodSandboxStatus of status calls.
import { cri } from '@crisp/api';
import { matchesId, matchesLabels } from '../store/filters';
import type { SandboxRecord } from './record';

export function criPodSandbox(rec: SandboxRecord, state: cri.PodSandboxState): cri.PodSandbox {
  return {
    id: rec.id,
    metadata: rec.config.metadata,
    state,
    createdAt: BigInt(rec.createdAt),
    labels: rec.config.labels,
    annotations: rec.config.annotations,
    runtimeHandler: rec.runtimeHandler,
  };
}

export function criPodSandboxStatus(rec: SandboxRecord, state: cri.PodSandboxState): cri.PodSandboxStatus {
  const [primary, ...more] = rec.ips;
  const namespaceOptions = rec.config.linux?.securityContext?.namespaceOptions;
  return {
    id: rec.id,
    metadata: rec.config.metadata,
    state,
    createdAt: BigInt(rec.createdAt),
    network: { ip: primary ?? '', additionalIps: more.map((ip) => ({ ip })) },
    linux: { namespaces: { options: namespaceOptions ?? cri.NamespaceOption.fromPartial({}) } },
    labels: rec.config.labels,
    annotations: rec.config.annotations,
    runtimeHandler: rec.runtimeHandler,
  };
}

export function matchesSandboxFilter(filter: cri.PodSandboxFilter | undefined, rec: SandboxRecord, state: cri.PodSandboxState): boolean {
  if (!filter) return true;
  if (filter.state && filter.state.state !== state) return false;
  return matchesId(filter.id, rec.id) && matchesLabels(filter.labelSelector, rec.config.labels);
}
