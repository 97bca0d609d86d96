// Pod names are unique per (name, namespace, uid, attempt). kubelet retries RunPodSandbox with the
// same config after its own deadline while the first attempt may still be running: the retry must
// wait for that attempt and get its id, not a "name is reserved" error (the peers' well-known wedge).
import { createHash } from 'node:crypto';
import { alreadyExists } from '../errors';

interface Reservation<T> {
  id: string;
  configHash: string;
  /** Settles when the attempt that took the name finishes. */
  done: Promise<T>;
}

export function podKey(md: { name: string; namespace: string; uid: string; attempt: number }): string {
  return `${md.name}_${md.namespace}_${md.uid}_${md.attempt}`;
}

/** A stable hash of a request, for telling a retry from a different request with the same name. */
export function configHash(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex');
}

function stableJson(v: unknown): string {
  if (typeof v === 'bigint') return JSON.stringify(v.toString());
  if (v instanceof Uint8Array) return JSON.stringify(Buffer.from(v).toString('base64'));
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export class NameReservations<T> {
  private readonly byKey = new Map<string, Reservation<T>>();

  /**
   * Runs `create(id)` under `key` unless an attempt for it is under way or done: an identical request
   * then gets the same result, a different one ALREADY_EXISTS naming the existing id.
   * `existing(key)` finds a finished, still existing object (e.g. after a crisp restart).
   */
  async run(
    key: string,
    hash: string,
    newId: () => string,
    create: (id: string) => Promise<T>,
    existing: () => { id: string; configHash: string; value: T } | undefined,
    what: string,
  ): Promise<T> {
    const current = this.byKey.get(key);
    if (current) {
      if (current.configHash !== hash) throw alreadyExists(`${what} "${key}" already exists as ${current.id} with a different config`);
      return current.done;
    }
    const found = existing();
    if (found) {
      if (found.configHash !== hash) throw alreadyExists(`${what} "${key}" already exists as ${found.id} with a different config`);
      return found.value;
    }
    const id = newId();
    const done = create(id);
    this.byKey.set(key, { id, configHash: hash, done });
    // The name is free again once the attempt failed (nothing was left) or its object is the record.
    done.then(
      () => this.byKey.delete(key),
      () => this.byKey.delete(key),
    );
    return done;
  }

  release(key: string): void {
    this.byKey.delete(key);
  }
}
