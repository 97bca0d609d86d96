/**
 * crisp stamps this label on every containerd object it creates (containers, images, leases,
 * content, snapshots) and only changes or removes objects that carry it: containerd is shared
 * with its own CRI plugin, ctr, nerdctl and others.
 */
export const OWNER_LABEL = 'io.crisp.owner';
export const OWNER_VALUE = 'crisp';

export type Labels = Record<string, string>;

/** `extra` plus the owner label (which cannot be overridden). */
export function ownedLabels(extra: Labels = {}): Labels {
  return { ...extra, [OWNER_LABEL]: OWNER_VALUE };
}

export function isOwnedByCrisp(labels: Labels | undefined | null): boolean {
  return labels?.[OWNER_LABEL] === OWNER_VALUE;
}
