// The one place that names the labels and extensions crisp puts on containerd objects. They are how a
// restarted crisp finds its sandboxes and containers again, and how it tells them from other clients'.
import { OWNER_LABEL, OWNER_VALUE, ownedLabels } from '@crisp/containerd';

export { OWNER_LABEL, OWNER_VALUE };

export const KIND_LABEL = 'io.crisp.kind';
export type ObjectKind = 'sandbox' | 'container';
export const SANDBOX_ID_LABEL = 'io.crisp.sandbox-id';
export const POD_NAME_LABEL = 'io.crisp.pod.name';
export const POD_NAMESPACE_LABEL = 'io.crisp.pod.namespace';
export const POD_UID_LABEL = 'io.crisp.pod.uid';
export const CONTAINER_NAME_LABEL = 'io.crisp.container.name';

/** containerd extension holding the sandbox's CRI record (config, network, paths) as JSON. */
export const SANDBOX_EXTENSION = 'io.crisp.sandbox';
export const SANDBOX_EXTENSION_TYPE = 'io.crisp.sandbox.v1';

/** The label filter that lists crisp's objects of one kind (containerd filter syntax). */
export function kindFilter(kind: ObjectKind): string {
  return `labels."${OWNER_LABEL}"==${OWNER_VALUE},labels."${KIND_LABEL}"==${kind}`;
}

export function sandboxLabels(md: { name: string; namespace: string; uid: string }): Record<string, string> {
  return ownedLabels({
    [KIND_LABEL]: 'sandbox',
    [POD_NAME_LABEL]: md.name,
    [POD_NAMESPACE_LABEL]: md.namespace,
    [POD_UID_LABEL]: md.uid,
  });
}

export function snapshotLabels(kind: ObjectKind, id: string): Record<string, string> {
  return ownedLabels({ [KIND_LABEL]: kind, [kind === 'sandbox' ? SANDBOX_ID_LABEL : 'io.crisp.container-id']: id });
}
