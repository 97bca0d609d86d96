// Exit tracking: one subscription to containerd's task events for crisp's namespace. Every exit of the
// main process of a crisp container (or sandbox) is recorded durably on its containerd container
// (labels: exit code, time, reason; see exit-labels.ts), so that a restarted crisp still knows it, and
// announced to in-process listeners. Exits crisp missed (it was down, the stream broke) are found by a
// reconcile, run whenever the subscription becomes live: a stopped task gives its real exit status, a
// task that vanished after starting gives exit 255 "Unknown", as containerd's CRI plugin does.
// Containers crisp vouches for (it started their task in this process) are handled from memory, with
// no Containers.Get per event. The same stream carries the namespace's image events, for listeners
// that keep image state (image/resolve-cache.ts).
//
// containerd 1.6 (runc shim v2), as seen on this machine:
// - /tasks/exit TaskExit{container_id, id, pid, exit_status, exited_at}: `id` is the process id, equal
//   to container_id for the main (init) process and the exec id for execs. A killed process exits
//   with 128 + signal (137 for SIGKILL).
// - /tasks/oom TaskOOM{container_id}: sent by the shim's OOM watcher (cgroup v1: an eventfd on
//   memory.oom_control; v2: memory.events), a few ms before the TaskExit of the killed process, but
//   on a separate path, so the order is not guaranteed: an OOM that comes after the exit upgrades
//   the recorded reason. The cgroup's own oom_kill counter is the fallback (oom-cgroup.ts).
// - Exits that happen while containerd is down are re-sent by the shim once it is back.
// - Tasks.List/Get answer with Process.id = container id and an empty container_id.
import { task as taskTypes } from '@crisp/api';
import type { Timestamp, containers as containersApi } from '@crisp/api';
import {
  Backoff,
  isAbortError,
  isKnownEvent,
  isNotFound,
  isOwnedByCrisp,
  sleep,
  subscribeEvents,
  timestampToCriNanos,
  unpackSpec,
} from '@crisp/containerd';
import type { ContainerdClient, EventStreamItem, SubscribeEventsOptions } from '@crisp/containerd';
import type { Logger } from '../log';
import { KIND_LABEL, kindFilter } from '../store/labels';
import type { ObjectKind } from '../store/labels';
import {
  EXIT_UPDATE_MASK,
  ExitLabels,
  STARTED_UPDATE_MASK,
  UNKNOWN_EXIT_CODE,
  UNKNOWN_EXIT_REASON,
  decodeExitLabels,
  decodeStartedLabel,
  encodeExitLabels,
  encodeStartedLabel,
  exitReason,
} from './exit-labels';
import { CGROUP_ROOT, readOomKillCount } from './oom-cgroup';

type Container = containersApi.Container;
type TaskProcess = taskTypes.Process;

/** One recorded exit of a crisp container's (or sandbox's) main process. */
export interface ExitRecord extends ExitLabels {
  containerId: string;
  /** From the container's io.crisp.kind label. */
  kind: ObjectKind;
  /** pid of the main process; 0 when unknown (reconciled without a task). */
  pid: number;
  /**
   * `event`: from containerd's /tasks/exit (or a late /tasks/oom upgrading the reason);
   * `reconcile`: found by listing (stopped task, or vanished → 255 Unknown); `labels`: already
   * recorded before (loaded by a reconcile, never announced to listeners).
   */
  source: 'event' | 'reconcile' | 'labels';
  /**
   * True when this corrects an exit already announced: a late /tasks/oom turned Error into
   * OOMKilled, or the real exit replaced a reconcile's 255 Unknown. Listeners that act once per exit
   * (clean-up, CONTAINER_STOPPED_EVENT) skip these; status readers just take the new values.
   */
  amended: boolean;
}

export interface OomRecord {
  containerId: string;
  kind: ObjectKind;
  /** When containerd saw it (event time), nanoseconds since the epoch. */
  at: bigint;
}

/**
 * What crisp itself knows of one of its containers, so that handling its events needs no
 * Containers.Get. Whoever answers vouches that the container is crisp's and that its task was
 * started by this crisp process: so no exit or start label predates what this monitor recorded.
 */
export interface KnownContainer {
  kind: ObjectKind;
  /** The runtime spec's linux.cgroupsPath (for the OOM fallback). */
  cgroupsPath: string | undefined;
}

/** Answers for the containers it vouches for (see KnownContainer), undefined for the others. */
export type KnownContainerLookup = (id: string) => KnownContainer | undefined;

/** The facts handlers need of a container: who it is, and (lazily) its cgroup. */
interface ExitTarget {
  id: string;
  kind: ObjectKind;
  cgroupsPath: () => string | undefined;
}

export type ExitListener = (exit: ExitRecord) => void;
export type OomListener = (oom: OomRecord) => void;

export interface EventMonitorOptions {
  /** Client for crisp's namespace (its events are the only ones watched). */
  containerd: ContainerdClient;
  logger: Logger;
  /** Deadline of each containerd call the monitor makes; default 10 s. */
  callTimeoutMs?: number;
  /** OOM events remembered until their container's exit comes; default 4096 (oldest dropped). */
  maxPendingOoms?: number;
  /** Exits kept in memory for lastExit(); default 16384 (oldest dropped; labels keep them all). */
  maxExits?: number;
  /** Passed to subscribeEvents (backoff, sync timeout). */
  subscribe?: SubscribeEventsOptions;
  /** Where cgroupfs is mounted (OOM fallback); default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** Event source; default subscribeEvents() with the monitor's filters. For tests. */
  events?: (signal: AbortSignal) => AsyncIterable<EventStreamItem>;
}

/** The topics the monitor subscribes to. */
export const WATCHED_TOPICS = ['/tasks/exit', '/tasks/oom', '/tasks/start', '/containers/delete', '/images/create', '/images/update', '/images/delete'] as const;

/** containerd event filters (ORed) for WATCHED_TOPICS in `namespace`. */
export function eventFilters(namespace: string): string[] {
  return WATCHED_TOPICS.map((t) => `namespace==${JSON.stringify(namespace)},topic==${JSON.stringify(t)}`);
}

/** How many containers a reconcile updates at once. */
const RECONCILE_CONCURRENCY = 8;

const noop = (): void => {};

function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function kindOf(c: Container): ObjectKind | undefined {
  const k = c.labels[KIND_LABEL];
  return k === 'sandbox' || k === 'container' ? k : undefined;
}

function cgroupsPathOf(c: Container): string | undefined {
  if (!c.spec) return undefined;
  try {
    const spec = unpackSpec<{ linux?: { cgroupsPath?: unknown } }>(c.spec);
    const p = spec.linux?.cgroupsPath;
    return typeof p === 'string' ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Insertion-ordered map that drops its oldest entries beyond `max`. */
class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly max: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (this.has(key)) this.delete(key); // re-inserting makes it the newest
    super.set(key, value);
    while (this.size > this.max) {
      const oldest = this.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
    }
    return this;
  }
}

/** A one-shot promise resolved when a container's exit is known. */
interface ExitWaiter {
  resolve: (exit: ExitRecord) => void;
}

/**
 * Watches containerd for the end of crisp's containers and sandboxes; see the file comment.
 * `start()` once (crisp's app does); `stop()` on shutdown. Listeners run synchronously and must
 * not throw (a throw is logged and ignored).
 */
export class EventMonitor {
  private readonly containerd: ContainerdClient;
  private readonly logger: Logger;
  private readonly callTimeoutMs: number;
  private readonly cgroupRoot: string;
  private readonly pendingOoms: BoundedMap<string, bigint>;
  private readonly exits: BoundedMap<string, ExitRecord>;
  private readonly exitListeners = new Set<ExitListener>();
  private readonly oomListeners = new Set<OomListener>();
  private readonly imageListeners = new Set<() => void>();
  private readonly waiters = new Map<string, Set<ExitWaiter>>();
  /** Per-container chains: one container's events and reconcile steps run in order, others in parallel. */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly knownLookups: KnownContainerLookup[] = [];
  /** Known containers whose start label this monitor wrote: a re-sent /tasks/start changes nothing. */
  private readonly startsWritten: BoundedMap<string, true>;

  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private reconcileWanted = false;
  private reconciling: Promise<void> | undefined;
  private reconcileCount = 0;
  private liveCount = 0;
  private readonly reconciledWaiters: (() => void)[] = [];

  constructor(private readonly options: EventMonitorOptions) {
    this.containerd = options.containerd;
    this.logger = options.logger;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.cgroupRoot = options.cgroupRoot ?? CGROUP_ROOT;
    this.pendingOoms = new BoundedMap(options.maxPendingOoms ?? 4096);
    this.exits = new BoundedMap(options.maxExits ?? 16_384);
    this.startsWritten = new BoundedMap(options.maxExits ?? 16_384);
  }

  /**
   * Adds a source of containers crisp vouches for (see KnownContainer): their start and exit
   * events are then handled from memory, without reading the container back from containerd.
   */
  addKnownContainers(lookup: KnownContainerLookup): void {
    this.knownLookups.push(lookup);
  }

  private known(id: string): ExitTarget | undefined {
    for (const lookup of this.knownLookups) {
      const k = lookup(id);
      if (k) return { id, kind: k.kind, cgroupsPath: () => k.cgroupsPath };
    }
    return undefined;
  }

  /** Subscribes (retrying while containerd is away) and reconciles once live. Idempotent. */
  start(): void {
    if (this.loop) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = this.run(abort.signal);
  }

  /** Ends the subscription and waits for what is in flight (aborted, not finished). Idempotent. */
  async stop(): Promise<void> {
    if (!this.abort) return;
    this.abort.abort();
    await this.loop;
    await this.reconciling;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    this.loop = undefined;
    this.abort = undefined;
  }

  /** Called on every recorded exit (and again when a late OOM changes its reason). Returns an unsubscribe. */
  onExit(listener: ExitListener): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** Called on every OOM event of a crisp container. Returns an unsubscribe. */
  onOom(listener: OomListener): () => void {
    this.oomListeners.add(listener);
    return () => this.oomListeners.delete(listener);
  }

  /** Called on every image record change in the namespace (whoever made it). Returns an unsubscribe. */
  onImageChange(listener: () => void): () => void {
    this.imageListeners.add(listener);
    return () => this.imageListeners.delete(listener);
  }

  /**
   * Changes with every subscription made live (the first, then each reconnect: events may have been
   * lost in between); undefined before the first and after stop(). What is kept up to date by this
   * monitor's events is exact only within one epoch.
   */
  liveEpoch(): number | undefined {
    return this.loop && this.liveCount > 0 ? this.liveCount : undefined;
  }

  /** The exit recorded for `containerId` this run (or loaded from its labels by a reconcile). */
  lastExit(containerId: string): ExitRecord | undefined {
    return this.exits.get(containerId);
  }

  /**
   * Resolves with the container's exit once it is recorded (at once if it already is). For a
   * StopContainer that must not answer before ContainerStatus shows the exit. Rejects with an
   * AbortError when `signal` aborts.
   */
  waitForExit(containerId: string, signal?: AbortSignal): Promise<ExitRecord> {
    const known = this.exits.get(containerId);
    if (known) return Promise.resolve(known);
    return new Promise<ExitRecord>((resolve, reject) => {
      let set = this.waiters.get(containerId);
      if (!set) this.waiters.set(containerId, (set = new Set()));
      const waiter: ExitWaiter = {
        resolve: (exit) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(exit);
        },
      };
      const onAbort = (): void => {
        set!.delete(waiter);
        if (set!.size === 0 && this.waiters.get(containerId) === set) this.waiters.delete(containerId);
        const err = new Error('waitForExit aborted');
        err.name = 'AbortError';
        reject(err);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      set.add(waiter);
    });
  }

  /** Resolves after the next reconcile that starts after this call has completed. */
  reconciled(): Promise<void> {
    return new Promise((resolve) => {
      this.reconciledWaiters.push(resolve);
      this.requestReconcile();
    });
  }

  /** How many reconciles have completed (tests, metrics). */
  get reconciles(): number {
    return this.reconcileCount;
  }

  /** How many times the event subscription became live: the first time, then once per reconnect. */
  get subscriptions(): number {
    return this.liveCount;
  }

  // --- subscription ---

  private source(signal: AbortSignal): AsyncIterable<EventStreamItem> {
    if (this.options.events) return this.options.events(signal);
    return subscribeEvents(this.containerd, eventFilters(this.containerd.namespace), signal, this.options.subscribe);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(1000, 30_000);
    while (!signal.aborted) {
      try {
        for await (const item of this.source(signal)) {
          backoff.reset();
          this.dispatch(item);
        }
        if (signal.aborted) return;
        this.logger.warn('containerd event stream ended: subscribing again');
      } catch (err) {
        if (signal.aborted) return;
        // subscribeEvents retries connection problems itself; what gets here is not one.
        this.logger.error({ err }, 'containerd event stream failed: subscribing again');
      }
      await sleep(backoff.next(), signal).catch(noop);
    }
  }

  private dispatch(item: EventStreamItem): void {
    if (item.type !== 'event') this.liveCount++;
    if (item.type === 'subscribed') {
      this.logger.info('watching containerd task events');
      this.requestReconcile();
      return;
    }
    if (item.type === 'reconnected') {
      this.logger.warn({ err: item.cause }, 'containerd event stream was lost and is back: reconciling exits');
      this.requestReconcile();
      return;
    }
    if (!isKnownEvent(item) || item.namespace !== this.containerd.namespace) return;
    const at = timestampToCriNanos(item.timestamp);
    switch (item.topic) {
      case '/tasks/exit': {
        const e = item.event;
        if (e.id !== e.containerId) return; // an exec's exit, not the container's
        this.serial(e.containerId, () => this.handleExit(e.containerId, e.pid, e.exitStatus, e.exitedAt, at));
        return;
      }
      case '/tasks/oom':
        this.serial(item.event.containerId, () => this.handleOom(item.event.containerId, at));
        return;
      case '/tasks/start':
        this.serial(item.event.containerId, () => this.handleStart(item.event.containerId, at));
        return;
      case '/containers/delete':
        this.forget(item.event.id);
        return;
      case '/images/create':
      case '/images/update':
      case '/images/delete':
        for (const l of this.imageListeners) {
          try {
            l();
          } catch (err) {
            this.logger.error({ err }, 'image change listener threw');
          }
        }
        return;
      default:
        return;
    }
  }

  /** Runs `fn` after everything queued for `id`, tracking it for stop(). Never rejects. */
  private serial(id: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const run = prev.then(fn).catch((err: unknown) => this.failed(id, err));
    this.chains.set(id, run);
    this.inflight.add(run);
    void run.then(() => {
      this.inflight.delete(run);
      if (this.chains.get(id) === run) this.chains.delete(id);
    });
    return run;
  }

  private failed(id: string, err: unknown): void {
    if (this.abort?.signal.aborted && isAbortError(err)) return;
    this.logger.warn({ containerId: id, err }, 'could not record container event: will reconcile');
    // Listing again finds what this missed (a stopped task still has its exit status).
    if (!this.abort?.signal.aborted) setTimeout(() => this.requestReconcile(), 1000).unref();
  }

  private callOptions(): { signal: AbortSignal | undefined; timeoutMs: number } {
    return { signal: this.abort?.signal, timeoutMs: this.callTimeoutMs };
  }

  /** The container if it is crisp's sandbox or container; undefined when gone or someone else's. */
  private async getOwned(id: string): Promise<(Container & { kind: ObjectKind }) | undefined> {
    try {
      const { container } = await this.containerd.containers.get({ id }, this.callOptions());
      if (!container || !isOwnedByCrisp(container.labels)) return undefined;
      const kind = kindOf(container);
      return kind ? { ...container, kind } : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private static target(c: Container & { kind: ObjectKind }): ExitTarget {
    return { id: c.id, kind: c.kind, cgroupsPath: () => cgroupsPathOf(c) };
  }

  /** Writes labels under `mask`; false when the container is gone. */
  private async writeLabels(id: string, labels: Record<string, string>, mask: readonly string[]): Promise<boolean> {
    try {
      await this.containerd.containers.update(
        {
          container: {
            id,
            labels,
            image: '',
            snapshotter: '',
            snapshotKey: '',
            extensions: {},
            sandbox: '',
          },
          updateMask: [...mask],
        },
        this.callOptions(),
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  // --- handlers (each runs in its container's chain) ---

  /** The container with what is recorded on it: from memory when crisp vouches for it, else read back. */
  private async current(id: string): Promise<{ target: ExitTarget; recorded: ExitLabels | undefined; startRecorded: boolean } | undefined> {
    const known = this.known(id);
    // For a known container, what this monitor recorded this run is all there is on its labels.
    if (known) return { target: known, recorded: this.exits.get(id), startRecorded: this.startsWritten.has(id) };
    const c = await this.getOwned(id);
    if (!c) return undefined;
    return { target: EventMonitor.target(c), recorded: decodeExitLabels(c.labels), startRecorded: decodeStartedLabel(c.labels) !== undefined };
  }

  private async handleExit(id: string, pid: number, exitStatus: number, exitedAt: Timestamp | undefined, eventAt: bigint): Promise<void> {
    const c = await this.current(id);
    if (!c) return this.forget(id);
    const { target, recorded } = c;
    // A reconcile's guess (task vanished) gives way to the real exit, which the shim re-sends late.
    if (recorded && recorded.reason !== UNKNOWN_EXIT_REASON) {
      this.remember({ exitCode: recorded.exitCode, exitedAt: recorded.exitedAt, reason: recorded.reason, containerId: id, kind: target.kind, pid, source: 'labels', amended: false }, false);
      return;
    }
    const at = timestampToCriNanos(exitedAt) || eventAt || nowNanos();
    await this.record(target, { exitCode: exitStatus, exitedAt: at }, pid, 'event', recorded !== undefined);
  }

  private async handleOom(id: string, eventAt: bigint): Promise<void> {
    const cur = await this.current(id);
    if (!cur) return;
    const c = cur.target;
    const at = eventAt || nowNanos();
    const recorded = cur.recorded ?? this.exits.get(id);
    if (recorded && recorded.reason !== UNKNOWN_EXIT_REASON) {
      // The exit came first (separate paths in the shim): the OOM still explains it.
      if (recorded.reason !== 'OOMKilled' && recorded.exitCode !== 0) {
        const exit: ExitLabels = { ...recorded, reason: 'OOMKilled' };
        if (await this.writeLabels(id, encodeExitLabels(exit), EXIT_UPDATE_MASK)) {
          const prev = this.exits.get(id);
          this.remember({ ...exit, containerId: id, kind: c.kind, pid: prev?.pid ?? 0, source: 'event', amended: true }, true);
        }
      }
    } else {
      this.pendingOoms.set(id, at);
    }
    this.emitOom({ containerId: id, kind: c.kind, at });
  }

  private async handleStart(id: string, eventAt: bigint): Promise<void> {
    const c = await this.current(id);
    if (!c || c.startRecorded) return;
    if ((await this.writeLabels(id, encodeStartedLabel(eventAt || nowNanos()), STARTED_UPDATE_MASK)) && this.known(id)) this.startsWritten.set(id, true);
  }

  /** Decides the reason (OOM seen, or counted by the cgroup), writes the labels, announces. */
  private async record(
    c: ExitTarget,
    exit: { exitCode: number; exitedAt: bigint; reason?: ExitLabels['reason'] },
    pid: number,
    source: 'event' | 'reconcile',
    amended = false,
  ): Promise<void> {
    let reason = exit.reason;
    if (reason === undefined) {
      let oom = this.pendingOoms.has(c.id);
      if (!oom && exit.exitCode !== 0) oom = ((await readOomKillCount(c.cgroupsPath(), this.cgroupRoot)) ?? 0) > 0;
      reason = exitReason(exit.exitCode, oom);
    }
    const labels: ExitLabels = { exitCode: exit.exitCode, exitedAt: exit.exitedAt, reason };
    if (!(await this.writeLabels(c.id, encodeExitLabels(labels), EXIT_UPDATE_MASK))) return this.forget(c.id);
    this.pendingOoms.delete(c.id);
    const level = reason === UNKNOWN_EXIT_REASON ? 'warn' : 'info';
    this.logger[level]({ containerId: c.id, kind: c.kind, exitCode: labels.exitCode, reason, source }, 'container exited');
    this.remember({ ...labels, containerId: c.id, kind: c.kind, pid, source, amended }, true);
  }

  private remember(exit: ExitRecord, announce: boolean): void {
    this.exits.set(exit.containerId, exit);
    const waiting = this.waiters.get(exit.containerId);
    if (waiting) {
      this.waiters.delete(exit.containerId);
      for (const w of waiting) w.resolve(exit);
    }
    if (!announce) return;
    for (const l of this.exitListeners) {
      try {
        l(exit);
      } catch (err) {
        this.logger.error({ err, containerId: exit.containerId }, 'exit listener threw');
      }
    }
  }

  private emitOom(oom: OomRecord): void {
    for (const l of this.oomListeners) {
      try {
        l(oom);
      } catch (err) {
        this.logger.error({ err, containerId: oom.containerId }, 'OOM listener threw');
      }
    }
  }

  private forget(id: string): void {
    this.exits.delete(id);
    this.pendingOoms.delete(id);
    this.startsWritten.delete(id);
  }

  // --- reconcile ---

  /** Coalesces: at most one reconcile runs, and one more follows if asked for meanwhile. */
  private requestReconcile(): void {
    this.reconcileWanted = true;
    if (this.reconciling || !this.abort || this.abort.signal.aborted) return;
    const signal = this.abort.signal;
    this.reconciling = (async () => {
      const backoff = new Backoff(500, 10_000);
      while (this.reconcileWanted && !signal.aborted) {
        this.reconcileWanted = false;
        const waiters = this.reconciledWaiters.splice(0);
        try {
          await this.reconcileOnce();
          backoff.reset();
          this.reconcileCount++;
          for (const w of waiters) w();
        } catch (err) {
          this.reconciledWaiters.unshift(...waiters);
          if (signal.aborted) break;
          const delay = backoff.next();
          this.logger.warn({ err, retryMs: Math.round(delay) }, 'reconciling container exits failed: retrying');
          this.reconcileWanted = true;
          await sleep(delay, signal).catch(noop);
        }
      }
    })().finally(() => {
      this.reconciling = undefined;
      // A request that raced with the loop's last check.
      if (this.reconcileWanted && this.abort && !this.abort.signal.aborted) this.requestReconcile();
    });
  }

  /**
   * Lists crisp's containers, then the tasks (in this order: a container that had started before
   * the first list and has no task in the second has really lost it), and records what was missed.
   */
  private async reconcileOnce(): Promise<void> {
    const opts = this.callOptions();
    const { containers } = await this.containerd.containers.list({ filters: [kindFilter('sandbox'), kindFilter('container')] }, opts);
    const { tasks } = await this.containerd.tasks.list({ filter: '' }, opts);
    const taskById = new Map<string, TaskProcess>();
    for (const t of tasks) taskById.set(t.id || t.containerId, t);
    const todo = containers.filter((c) => isOwnedByCrisp(c.labels) && kindOf(c) !== undefined);
    let next = 0;
    let missed = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const c = todo[next++]!;
        const t = taskById.get(c.id);
        await this.serial(c.id, async () => {
          if (await this.reconcileOne({ ...c, kind: kindOf(c)! }, t)) missed++;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECONCILE_CONCURRENCY, todo.length) }, worker));
    this.logger.info({ containers: todo.length, tasks: tasks.length, missedExits: missed }, 'reconciled container exits');
  }

  /** One container; true when it recorded a missed exit. */
  private async reconcileOne(c: Container & { kind: ObjectKind }, t: TaskProcess | undefined): Promise<boolean> {
    const known = this.exits.get(c.id);
    if (known && known.source !== 'labels') return false; // recorded by this monitor since the list
    const recorded = decodeExitLabels(c.labels);
    if (recorded) {
      this.remember({ ...recorded, containerId: c.id, kind: c.kind, pid: t?.pid ?? 0, source: 'labels', amended: false }, false);
      return false;
    }
    if (t) {
      switch (t.status) {
        case taskTypes.Status.STOPPED:
          await this.record(EventMonitor.target(c), { exitCode: t.exitStatus, exitedAt: timestampToCriNanos(t.exitedAt) || nowNanos() }, t.pid, 'reconcile');
          return true;
        case taskTypes.Status.RUNNING:
        case taskTypes.Status.PAUSED:
        case taskTypes.Status.PAUSING:
          // Started while crisp was not watching: the start time is not known any better than now.
          if (decodeStartedLabel(c.labels) === undefined) {
            // The listed labels may predate a /tasks/start handled since: look again before guessing.
            const fresh = await this.getOwned(c.id);
            if (fresh && decodeStartedLabel(fresh.labels) === undefined) {
              await this.writeLabels(c.id, encodeStartedLabel(nowNanos()), STARTED_UPDATE_MASK);
            }
          }
          return false;
        default:
          return false; // created, not started: not an exit
      }
    }
    // No task. Never started (created only) is not an exit; started and gone is one crisp missed.
    if (decodeStartedLabel(c.labels) === undefined) return false;
    await this.record(EventMonitor.target(c), { exitCode: UNKNOWN_EXIT_CODE, exitedAt: nowNanos(), reason: UNKNOWN_EXIT_REASON }, 0, 'reconcile');
    return true;
  }
}
