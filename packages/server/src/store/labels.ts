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

/** containerd extensions holding a container's CRI config (protobuf) and crisp's facts (JSON). */
export const CONTAINER_CONFIG_EXTENSION = 'io.crisp.container.config';
export const CONTAINER_EXTENSION = 'io.crisp.container';
export const CONTAINER_EXTENSION_TYPE = 'io.crisp.container.v1';
/** When the container's task was started (nanoseconds, decimal). */
export const STARTED_AT_LABEL = 'io.crisp.started-at';

export function containerLabels(sandboxId: string, name: string): Record<string, string> {
  return ownedLabels({ [KIND_LABEL]: 'container', [SANDBOX_ID_LABEL]: sandboxId, [CONTAINER_NAME_LABEL]: name });
}

// --- containerd's own labels that crisp sets (GC references, leases) ---
export const GC_SNAPSHOT_LABEL = 'containerd.io/gc.ref.snapshot.';
export const GC_CONTENT_LABEL = 'containerd.io/gc.ref.content.';
export const UNCOMPRESSED_LABEL = 'containerd.io/uncompressed';
export const SNAPSHOT_REF_LABEL = 'containerd.io/snapshot.ref';
export const GC_EXPIRE_LABEL = 'containerd.io/gc.expire';

/**
 * Labels of a lease crisp holds while it builds something: owned, and expiring on its own so that a
 * crisp that dies mid-way does not pin content forever.
 */
export function leaseLabels(ttlMs: number): Record<string, string> {
  return ownedLabels({ [GC_EXPIRE_LABEL]: new Date(Date.now() + ttlMs).toISOString() });
}

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

// --- Exit records (written by events/exit-tracker.ts) ---
// A container's end, kept on its containerd container so that a restarted crisp still knows how and
// when it ended. All three are written together, once per exit; their absence means "no exit recorded".

/** Exit status of the main process, decimal (137 = SIGKILL; 255 when it vanished unseen). */
export const EXIT_CODE_LABEL = 'io.crisp.exit.code';
/** When it exited: nanoseconds since the epoch, decimal string (CRI's finished_at). */
export const EXIT_AT_LABEL = 'io.crisp.exit.at';
/** CRI's reason: OOMKilled | Completed | Error | Unknown (see events/exit-labels.ts). */
export const EXIT_REASON_LABEL = 'io.crisp.exit.reason';
