// GetContainerEvents: kubelet's evented PLEG (and crictl events) stream CRI container events. crisp
// publishes each lifecycle change once; the broadcaster hands it to every open stream. Each stream has
// its own bounded queue: one that falls behind is ended with RESOURCE_EXHAUSTED (kubelet then falls
// back to relisting and subscribes again), so a slow or stuck client never holds crisp or the other
// clients back, and never makes crisp's memory grow without bound.
import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import { CrispError, Status } from '../errors';
import type { Logger } from '../log';

export type ContainerEvent = cri.ContainerEventResponse;

/** Events a stream may have waiting before it is cut off. */
export const DEFAULT_EVENT_QUEUE_SIZE = 1000;

export interface ContainerEventBroadcasterOptions {
  /** Per-stream queue bound; default DEFAULT_EVENT_QUEUE_SIZE. */
  queueSize?: number;
  logger?: Logger;
}

type State = { kind: 'open' } | { kind: 'failed'; error: Error } | { kind: 'done' };

/** One stream's queue and iterator. Single consumer: one next() at a time. */
class Subscription implements AsyncIterableIterator<ContainerEvent> {
  private items: ContainerEvent[] = [];
  private head = 0;
  private state: State = { kind: 'open' };
  private waiting: ((r: IteratorResult<ContainerEvent, undefined>) => void) | undefined;
  private waitingReject: ((err: unknown) => void) | undefined;

  constructor(
    private readonly capacity: number,
    private readonly onEnd: (sub: Subscription) => void,
  ) {}

  get queued(): number {
    return this.items.length - this.head;
  }

  /** False once this subscription no longer takes events (ended, or cut off now). */
  push(event: ContainerEvent): boolean {
    if (this.state.kind !== 'open') return false;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = this.waitingReject = undefined;
      waiting({ value: event, done: false });
      return true;
    }
    if (this.queued >= this.capacity) {
      this.fail(
        new CrispError(
          Status.RESOURCE_EXHAUSTED,
          `container event stream fell behind: more than ${this.capacity} events not read; subscribe again and relist`,
        ),
      );
      return false;
    }
    this.items.push(event);
    return true;
  }

  /** Ends the stream with `error` at the consumer's next read; what was queued is dropped. */
  fail(error: Error): void {
    if (this.state.kind !== 'open') return;
    this.state = { kind: 'failed', error };
    this.clear();
    this.onEnd(this);
    const reject = this.waitingReject;
    if (reject) {
      this.waiting = this.waitingReject = undefined;
      this.state = { kind: 'done' };
      reject(error);
    }
  }

  /** Ends the stream normally, at once: what is still queued is dropped (abort, return, shutdown). */
  end(): void {
    if (this.state.kind === 'done') return;
    const wasOpen = this.state.kind === 'open';
    this.state = { kind: 'done' };
    this.clear();
    if (wasOpen) this.onEnd(this);
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = this.waitingReject = undefined;
      waiting({ value: undefined, done: true });
    }
  }

  private clear(): void {
    this.items = [];
    this.head = 0;
  }

  next(): Promise<IteratorResult<ContainerEvent, undefined>> {
    if (this.queued > 0) {
      const value = this.items[this.head]!;
      this.items[this.head] = undefined as unknown as ContainerEvent; // let it be collected
      this.head++;
      if (this.head === this.items.length) this.clear();
      else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.state.kind === 'failed') {
      const { error } = this.state;
      this.state = { kind: 'done' };
      return Promise.reject(error);
    }
    if (this.state.kind === 'done') return Promise.resolve({ value: undefined, done: true });
    if (this.waiting) return Promise.reject(new Error('container event stream: next() called while another is pending'));
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.waitingReject = reject;
    });
  }

  return(): Promise<IteratorResult<ContainerEvent, undefined>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Fans CRI container events out to any number of GetContainerEvents streams. */
export class ContainerEventBroadcaster {
  private readonly subscriptions = new Set<Subscription>();
  private readonly queueSize: number;
  private readonly logger: Logger | undefined;
  private closed = false;

  constructor(options: ContainerEventBroadcasterOptions = {}) {
    this.queueSize = options.queueSize ?? DEFAULT_EVENT_QUEUE_SIZE;
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1) throw new RangeError(`queueSize must be a positive integer, got ${this.queueSize}`);
    this.logger = options.logger;
  }

  /** Queues `event` for every open stream; never blocks. Streams whose queue is full are ended. */
  publish(event: ContainerEvent): void {
    for (const sub of this.subscriptions) {
      if (!sub.push(event)) {
        this.logger?.warn({ queueSize: this.queueSize, containerId: event.containerId }, 'GetContainerEvents client fell behind: ending its stream');
      }
    }
  }

  /**
   * A new stream of every event published from now on, in order. It ends when `signal` aborts, the
   * consumer stops iterating, or close() is called; it throws RESOURCE_EXHAUSTED (CrispError) once
   * when it fell more than queueSize events behind. Registered at once (not at the first read).
   */
  subscribe(signal?: AbortSignal): AsyncIterableIterator<ContainerEvent> {
    const onAbort = (): void => sub.end();
    const sub: Subscription = new Subscription(this.queueSize, (s) => {
      this.subscriptions.delete(s);
      signal?.removeEventListener('abort', onAbort);
    });
    if (this.closed || signal?.aborted) {
      sub.end();
      return sub;
    }
    this.subscriptions.add(sub);
    signal?.addEventListener('abort', onAbort, { once: true });
    return sub;
  }

  /** Open streams. */
  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  /** Ends every stream (normally) and refuses new ones: crisp is shutting down. */
  close(): void {
    this.closed = true;
    for (const sub of [...this.subscriptions]) sub.end();
  }
}

/**
 * The GetContainerEvents handler for nice-grpc (server streaming):
 * `getContainerEvents: getContainerEvents(broadcaster)` in the RuntimeService implementation.
 */
export function getContainerEvents(
  broadcaster: ContainerEventBroadcaster,
): (req: cri.GetEventsRequest, context: CallContext) => AsyncGenerator<ContainerEvent, void, undefined> {
  return async function* getContainerEventsHandler(_req, context) {
    yield* broadcaster.subscribe(context.signal);
  };
}
