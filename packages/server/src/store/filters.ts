// The filters CRI list calls share: id (full or unique prefix), state, and an equality label selector.

export function matchesLabels(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** An id filter matches the full id or a prefix of it (crictl passes truncated ids). */
export function matchesId(filter: string | undefined, id: string): boolean {
  return !filter || id.startsWith(filter);
}
