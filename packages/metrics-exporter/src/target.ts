// What the exporter knows of one containerd container: its Kubernetes identity and the facts of its
// OCI spec it needs (cgroup, network namespace). Labels follow kubelet's /metrics/cadvisor:
//   namespace, pod   io.kubernetes.pod.namespace / .name (kubelet sets them on every container and
//                    sandbox of any CRI runtime; containerd's CRI plugin keeps them as containerd labels)
//   container        io.kubernetes.container.name; "" for a pod's sandbox (pause) container
//   id               the cgroup, as cAdvisor names it (/kubepods/burstable/pod<uid>/<id>)
//   name             the container id (cAdvisor's first alias for a containerd container)
//   image            the containerd container's image
// Runtimes that keep the CRI labels elsewhere (crisp keeps them in its extensions) still put the CRI
// annotations containerd's CRI plugin defines into the spec: those are the fallback.
// Network counters are attributed to the sandbox container only, as cAdvisor does for containerd
// (containers of a pod share its network namespace: counting them per container would repeat them).
import type { containers } from '@crisp/api';
import { timestampToCriNanos } from '@crisp/containerd';

export const K8S_POD_NAME = 'io.kubernetes.pod.name';
export const K8S_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const K8S_CONTAINER_NAME = 'io.kubernetes.container.name';

/** The CRI annotations of the OCI spec (containerd's pkg/cri/annotations; crisp sets the same). */
export const CRI_ANNOTATIONS = {
  containerType: 'io.kubernetes.cri.container-type',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  containerName: 'io.kubernetes.cri.container-name',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

export type TargetKind = 'sandbox' | 'container' | 'other';

export interface Target {
  id: string;
  kind: TargetKind;
  namespace: string;
  pod: string;
  /** "" for sandboxes and non-Kubernetes containers. */
  container: string;
  image: string;
  /** cAdvisor's container name: the cgroup path. */
  cgroup: string;
  /**
   * Sandboxes with a network namespace of their own: its pinned path, or `own` when runc created it
   * (it lives as long as the pause process). Undefined: host network, or not a sandbox.
   */
  netns?: string | 'own';
  /** Creation time, seconds since the epoch (cAdvisor's container_start_time_seconds). */
  createdAt: number;
  snapshotter: string;
  snapshotKey: string;
}

interface SpecFacts {
  annotations?: Record<string, string>;
  linux?: { cgroupsPath?: string; namespaces?: { type?: string; path?: string }[] };
}

/** The parts of the OCI spec (JSON in an Any) the exporter reads; {} when absent or unreadable. */
export function specFacts(spec: containers.Container['spec']): SpecFacts {
  if (!spec?.value?.length) return {};
  try {
    const s = JSON.parse(Buffer.from(spec.value.buffer, spec.value.byteOffset, spec.value.byteLength).toString('utf8')) as unknown;
    return typeof s === 'object' && s !== null ? (s as SpecFacts) : {};
  } catch {
    return {};
  }
}

/** `kubepods-burstable-pod1.slice` → `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice` (systemd's nesting). */
export function expandSlice(slice: string): string {
  if (slice === '' || slice === '-.slice') return '';
  const base = slice.replace(/\.slice$/, '');
  const parts = base.split('-');
  let out = '';
  for (let i = 1; i <= parts.length; i++) out += `/${parts.slice(0, i).join('-')}.slice`;
  return out;
}

/**
 * The cgroup of a container as cAdvisor names it, from the spec's linux.cgroupsPath: a cgroupfs path
 * as is; systemd's `slice:prefix:name` as the unit's path; none → containerd's default /<ns>/<id>.
 */
export function cgroupName(cgroupsPath: string | undefined, namespace: string, id: string): string {
  if (!cgroupsPath) return `/${namespace}/${id}`;
  const sd = /^([^:/]*):([^:]*):([^:]+)$/.exec(cgroupsPath);
  if (!sd) return cgroupsPath.startsWith('/') ? cgroupsPath : `/${cgroupsPath}`;
  const [, slice, prefix, name] = sd as unknown as [string, string, string, string];
  const unit = name.endsWith('.slice') ? name : `${prefix ? `${prefix}-` : ''}${name}.scope`;
  return `${expandSlice(slice || 'system.slice')}/${unit}`;
}

function kindOf(labels: Record<string, string>, annotations: Record<string, string>): TargetKind {
  const t = annotations[CRI_ANNOTATIONS.containerType] ?? labels['io.cri-containerd.kind'];
  if (t === 'sandbox' || t === 'container') return t;
  if (labels[K8S_CONTAINER_NAME]) return 'container';
  return labels[K8S_POD_NAME] ? 'sandbox' : 'other';
}

/** The target of a containerd container; `namespace` is the containerd namespace (for the default cgroup). */
export function targetOf(c: containers.Container, namespace: string): Target {
  const spec = specFacts(c.spec);
  const a = spec.annotations ?? {};
  const l = c.labels;
  const kind = kindOf(l, a);
  const ns = spec.linux?.namespaces?.find((n) => n.type === 'network');
  return {
    id: c.id,
    kind,
    namespace: l[K8S_POD_NAMESPACE] ?? a[CRI_ANNOTATIONS.sandboxNamespace] ?? '',
    pod: l[K8S_POD_NAME] ?? a[CRI_ANNOTATIONS.sandboxName] ?? '',
    container: kind === 'container' ? (l[K8S_CONTAINER_NAME] ?? a[CRI_ANNOTATIONS.containerName] ?? '') : '',
    image: c.image || (a[CRI_ANNOTATIONS.imageName] ?? ''),
    cgroup: cgroupName(spec.linux?.cgroupsPath, namespace, c.id),
    ...(kind === 'sandbox' && ns ? { netns: ns.path || 'own' } : {}),
    createdAt: Number(timestampToCriNanos(c.createdAt)) / 1e9,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
  };
}
