import { randomBytes } from 'node:crypto';
import { Backoff, sleep } from './backoff';
import type { ContainerdClient } from './client';
import { isAbortError, isContainerdError } from './errors';
import { decodeEvent } from './event-decode';
import type { DecodedEvent, Envelope } from './event-decode';

/**
 * What subscribeEvents yields. `subscribed` comes once the first subscription is live,
 * `reconnected` after a lost one is live again: events in between are lost, so consumers must
 * reconcile (list state) when they see it. Subscribe-then-list on `subscribed` is race-free.
 */
export type EventStreamItem =
  | ({ type: 'event' } & DecodedEvent)
  | { type: 'subscribed' }
  | { type: 'reconnected'; cause: unknown };

export interface SubscribeEventsOptions {
  /** First retry delay; doubles up to maxBackoffMs. Default 100. */
  minBackoffMs?: number;
  /** Default 2000. */
  maxBackoffMs?: number;
  /** How long to wait for the subscription to prove live before retrying. Default 5000. */
  syncTimeoutMs?: number;
}

/** Topics of crisp's own sync events; never yielded, whoever published them. */
export const SYNC_TOPIC_PREFIX = '/crisp/events/sync/';
const SYNC_TYPE_URL = 'io.crisp.events.Sync';
const SYNC_REPUBLISH_MS = 200;

/** Retrying cannot fix these: a bad filter, an old containerd, a denied caller. */
const FATAL_CODES = new Set(['invalid-argument', 'unimplemented', 'permission-denied']);

function isFatal(err: unknown): boolean {
  if (isContainerdError(err)) return FATAL_CODES.has(err.code);
  return !isAbortError(err); // anything else is a bug, not a connection problem
}

const noop = (): void => {};

class StreamEnded extends Error {
  override readonly name = 'StreamEnded';
}

/**
 * containerd's events, decoded, resubscribing with backoff whenever the stream breaks (containerd
 * restarted, socket gone). Ends cleanly (no throw) when `signal` aborts or the consumer stops
 * iterating; throws only on errors retrying cannot fix.
 *
 * A subscription is only live once containerd has registered it, which the client cannot observe
 * directly; so each attempt publishes a uniquely-topiced sync event (repeatedly, until it comes
 * back through the stream) and the marker is yielded only then. `filters` are containerd's event
 * filters, ORed, e.g. `topic~="/tasks/"`, `namespace=="k8s.io"`.
 */
export async function* subscribeEvents(
  client: ContainerdClient,
  filters: readonly string[],
  signal: AbortSignal,
  options: SubscribeEventsOptions = {},
): AsyncGenerator<EventStreamItem, void, undefined> {
  const backoff = new Backoff(options.minBackoffMs ?? 100, options.maxBackoffMs ?? 2000);
  const syncTimeoutMs = options.syncTimeoutMs ?? 5000;
  const syncTopic = SYNC_TOPIC_PREFIX + randomBytes(8).toString('hex');
  // Filters are ORed; an empty list already passes everything, including the sync event.
  const effectiveFilters = filters.length === 0 ? [] : [...filters, `topic=="${syncTopic}"`];
  let lastError: unknown;
  let live = false;

  while (!signal.aborted) {
    const attempt = new AbortController();
    const onAbort = (): void => attempt.abort();
    signal.addEventListener('abort', onAbort);
    let pending: Promise<IteratorResult<Envelope, void>> | undefined;
    try {
      const it = client.events
        .subscribe({ filters: effectiveFilters }, { signal: attempt.signal })
        [Symbol.asyncIterator]();
      pending = it.next();

      // Sync phase: the first envelope of any kind proves the subscription registered.
      const first = await waitUntilLive(client, pending, syncTopic, attempt.signal, syncTimeoutMs);
      if (first?.done) throw new StreamEnded('event stream ended before it was live');
      yield live ? { type: 'reconnected', cause: lastError } : { type: 'subscribed' };
      live = true;
      backoff.reset();

      let r = first ?? (await pending);
      for (;;) {
        if (r.done) throw new StreamEnded('event stream ended');
        pending = it.next();
        if (!r.value.topic.startsWith(SYNC_TOPIC_PREFIX)) yield { type: 'event', ...decodeEvent(r.value) };
        r = await pending;
      }
    } catch (err) {
      if (signal.aborted) return;
      if (isFatal(err) && !(err instanceof StreamEnded)) throw err;
      lastError = err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      attempt.abort(); // cancels the call; a consumer's break lands here too
      pending?.catch(noop); // the abandoned next() rejects with AbortError: nobody awaits it
    }
    try {
      await sleep(backoff.next(), signal);
    } catch {
      return; // aborted while waiting
    }
  }
}

/**
 * Publishes sync events until one (or any other event) arrives, and returns that first result.
 * Publishing once is not enough: containerd may handle the Publish before it registers the
 * Subscribe sent just before it. Returns undefined (assume live) if containerd refuses Publish.
 */
async function waitUntilLive(
  client: ContainerdClient,
  pending: Promise<IteratorResult<Envelope, void>>,
  syncTopic: string,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<IteratorResult<Envelope, void> | undefined> {
  const deadline = Date.now() + timeoutMs;
  let arrived = false;
  const settled = pending.finally(() => {
    arrived = true;
  });
  settled.catch(noop); // awaited below; this only keeps it from counting as unhandled meanwhile
  while (!arrived) {
    if (Date.now() >= deadline) throw new StreamEnded(`event subscription not live after ${timeoutMs}ms`);
    try {
      await client.events.publish(
        { topic: syncTopic, event: { typeUrl: SYNC_TYPE_URL, value: Buffer.alloc(0) } },
        { signal, timeoutMs: 1000 },
      );
    } catch (err) {
      if (isContainerdError(err) && FATAL_CODES.has(err.code)) return undefined;
      if (!arrived) throw err;
    }
    await Promise.race([settled.then(noop, noop), sleep(SYNC_REPUBLISH_MS, signal)]);
  }
  return settled;
}
