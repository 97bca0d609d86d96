// Leases made ahead of need. Making a lease is a write transaction in containerd's metadata store (an
// fsync): about 2 ms of every create that needs one to guard a new snapshot from the GC until a
// container references it. Spares carry an expiry label like any lease, so spares left by a process
// that stopped without close() are collected by containerd's GC.
import type { leases } from '@crisp/api';
import type { ServiceClient } from './client';

export interface LeasePoolOptions {
  leases: Pick<ServiceClient<leases.LeasesDefinition>, 'create' | 'delete'>;
  /** Lease ids are this prefix and a counter. */
  idPrefix: string;
  /** The labels of a lease that expires `ttlMs` from now (an expiry label, and any the caller wants). */
  labels(ttlMs: number): Record<string, string>;
  /** How long an operation may hold a lease: every lease handed out lives at least this long. */
  holdMs: number;
  /** Spares kept ready (default 2). */
  spares?: number;
  /** A spare waits at most this long to be used (default 5 minutes); then it is replaced. */
  maxIdleMs?: number;
  /** A spare could not be made or deleted (take() then makes its lease itself). */
  onError?(err: unknown): void;
  /** Milliseconds now (tests). */
  now?(): number;
}

/** How long close() waits for containerd to delete the spares. */
const CLOSE_TIMEOUT_MS = 5_000;

interface Spare {
  id: string;
  madeAt: number;
}

export class LeasePool {
  private readonly spares: Spare[] = [];
  private refilling: Promise<void> | undefined;
  private closed = false;
  private seq = 0;
  private readonly target: number;
  private readonly maxIdleMs: number;
  private readonly now: () => number;
  /** Cancels a refill's create when the pool closes. */
  private readonly stopRefill = new AbortController();

  constructor(private readonly opts: LeasePoolOptions) {
    this.target = opts.spares ?? 2;
    this.maxIdleMs = opts.maxIdleMs ?? 5 * 60 * 1000;
    this.now = opts.now ?? Date.now;
  }

  /** A lease to hold for up to holdMs; delete it with release() once its resources are referenced. */
  async take(signal?: AbortSignal): Promise<string> {
    const now = this.now();
    let spare: Spare | undefined;
    // Oldest first, so none ages out while newer ones are used.
    while ((spare = this.spares.shift()) !== undefined && now - spare.madeAt > this.maxIdleMs) this.discard(spare.id);
    this.refill();
    if (spare) return spare.id;
    return this.make(this.opts.holdMs, signal);
  }

  /** Deletes a lease taken from the pool; what it held is then the GC's unless referenced. */
  async release(id: string, signal?: AbortSignal): Promise<void> {
    await this.opts.leases.delete({ id, sync: false }, signal ? { signal } : {});
  }

  /** Stops refilling and deletes the spares, giving containerd CLOSE_TIMEOUT_MS (they expire anyway). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopRefill.abort();
    await this.refilling;
    const ids = this.spares.splice(0).map((s) => s.id);
    const signal = AbortSignal.timeout(CLOSE_TIMEOUT_MS);
    await Promise.all(ids.map((id) => this.release(id, signal).catch((err: unknown) => this.opts.onError?.(err))));
  }

  /** Spares ready now (tests, metrics). */
  get ready(): number {
    return this.spares.length;
  }

  /** Waits for a refill under way (tests). */
  async settled(): Promise<void> {
    while (this.refilling) await this.refilling;
  }

  private async make(ttlMs: number, signal?: AbortSignal): Promise<string> {
    const id = `${this.opts.idPrefix}${process.pid}-${this.seq++}`;
    const { lease } = await this.opts.leases.create({ id, labels: this.opts.labels(ttlMs) }, signal ? { signal } : {});
    return lease?.id ?? id;
  }

  private discard(id: string): void {
    this.release(id).catch((err: unknown) => this.opts.onError?.(err));
  }

  /** One spare at a time in the background, so a burst of takes doesn't become a burst of creates. */
  private refill(): void {
    if (this.refilling || this.closed || this.spares.length >= this.target) return;
    this.refilling = (async () => {
      try {
        while (!this.closed && this.spares.length < this.target) {
          const madeAt = this.now();
          const id = await this.make(this.opts.holdMs + this.maxIdleMs, this.stopRefill.signal);
          if (this.closed) {
            this.discard(id);
            break;
          }
          this.spares.push({ id, madeAt });
        }
      } catch (err) {
        if (!this.closed) this.opts.onError?.(err);
      } finally {
        this.refilling = undefined;
      }
    })();
  }
}
