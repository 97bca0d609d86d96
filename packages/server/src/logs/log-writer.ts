// A container's output → its CRI log file (`<sandbox log_directory>/<container log_path>`).
//
// ContainerLogger reads the container's stdout and stderr (FIFO readers, see fifo.ts; a TTY
// container has stdout only), cuts them into CRI records (cri-log.ts) and appends them to one file,
// both streams interleaved in the order their bytes arrived. A record is stamped with the arrival
// time of the read that completed it, so timestamps never decrease in file order.
//
// Memory is bounded: formatted records wait in one queue for the file; when it holds more than
// `highWaterMark` bytes, the sources are paused (so the kernel pipe fills and the container's
// writes block, as with any slow log consumer) and resumed once it is below a quarter of that.
// All file I/O goes through a single writer loop, which also carries out reopen() between two
// writes, so that no record is lost or written twice across a rotation: records queued before
// reopen() go to the old file (renamed by kubelet), later ones to the new file.
//
// Write errors (disk full, ...) are logged (rate-limited) and the records dropped: the container's
// output keeps being drained, never blocked or crashed on, as containerd does.
//
// Fairness: formatting is CPU work on the event loop; a per-turn time budget shared by all
// loggers (see TurnScheduler below) keeps a chatty container from delaying everything else.
//
// Attach: onOutput() tees the raw output to listeners, each with its own bounded queue; a listener
// that falls behind misses chunks (and is told how many bytes) rather than stalling the log.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from '../log';
import { CriLogEncoder, LogStream, LogTag, nanoTime } from './cri-log';
import type { FifoReader } from './fifo';

/** A stream of container output: a plain Readable, or a FIFO reader (which close() can release). */
export type LogSource = Readable | Pick<FifoReader, 'stream' | 'release' | 'close'>;

export interface ContainerLoggerOptions {
  /**
   * The log file. Absent: kubelet asked for no log (empty log_path); the output is still read
   * (a container whose pipe is not drained blocks) and teed to onOutput() listeners, just not kept.
   */
  path?: string;
  stdout?: LogSource;
  /** Absent for TTY containers: the terminal's output all comes on stdout. */
  stderr?: LogSource;
  logger: Logger;
  /** Longest record content before `P` records (default 16 KiB). */
  maxLineBytes?: number;
  /** Tag for output that ends without a newline (default `P`, see cri-log.ts). */
  trailingTag?: LogTag;
  /** Bytes of formatted records queued for the file before the sources are paused (default 1 MiB). */
  highWaterMark?: number;
  /** Mode of a created log file (default 0o640, less the umask). */
  fileMode?: number;
  /** Clock for record timestamps (default nanoTime). */
  clock?: () => bigint;
}

export interface OutputListener {
  /**
   * A chunk of raw output, in arrival order. Return a promise to get the next chunk only after it
   * settles; chunks arriving meanwhile wait in the listener's queue (bounded by maxQueuedBytes). Must
   * not do slow synchronous work. Throwing (or rejecting) unsubscribes the listener.
   */
  data(stream: LogStream, chunk: Buffer): void | Promise<unknown>;
  /**
   * Chunks totalling `bytes` were dropped because the listener's queue was full: called at the
   * first drop, then (with the bytes dropped since) before the next data() or end().
   */
  dropped?(bytes: number): void;
  /** The output ended (both streams) or the logger was closed; no more calls follow. */
  end?(): void;
}

export interface OutputListenerOptions {
  /** Queue limit for a listener that is busy with an earlier chunk (default 1 MiB). */
  maxQueuedBytes?: number;
}

export interface ContainerLoggerCloseOptions {
  /**
   * true (default): the container has exited: release the FIFOs and wait (up to timeoutMs) for
   * their writers to finish, so that the last output is logged. false: stop reading now (e.g. crisp
   * shuts down while the container runs on; unread output stays in the FIFO for the next reader).
   */
  waitForEof?: boolean;
  /** How long to wait for EOF before giving up (default 10 s). */
  timeoutMs?: number;
}

export interface ContainerLoggerStats {
  /** Bytes appended to log files. */
  writtenBytes: number;
  /** Bytes of records lost to write errors. */
  droppedBytes: number;
}

const DEFAULT_HIGH_WATER_MARK = 1024 * 1024;
const DEFAULT_LISTENER_QUEUE = 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT_MS = 10_000;
const MAX_BATCH_BYTES = 1024 * 1024;
const MAX_BATCH_BUFFERS = 512;
const WRITE_ERROR_LOG_INTERVAL_MS = 10_000;

interface ReopenRequest {
  reopen: true;
  resolve: () => void;
  reject: (err: Error) => void;
}

type QueueItem = Buffer | ReopenRequest;

interface SourceState {
  name: LogStream;
  source: LogSource;
  stream: Readable;
  encoder: CriLogEncoder;
  ended: boolean;
}

// Event-loop fairness. libuv reads a readable pipe up to 32 times (64 KiB each) per poll before
// moving on, and each read runs the 'data' handler at once: with a few chatty containers one loop
// turn could take hundreds of milliseconds of formatting. So chunk processing, of all loggers
// together, gets a time budget per loop turn. A chunk that arrives over budget, or while other
// loggers have work waiting, is set aside and its logger's sources paused; set-aside chunks are
// processed from setImmediate (after other I/O and the timers had their turn), one chunk per
// logger in turn (round robin), so no container's output starves another's.
const TURN_BUDGET_MS = 4;

interface Deferrable {
  /** Processes one set-aside chunk; returns whether more remain. */
  step(): boolean;
}

class TurnScheduler {
  private turnStart = -1;
  private ready: Deferrable[] = [];
  private readonly queued = new Set<Deferrable>();
  private scheduled = false;

  /** Whether chunks should be set aside now rather than processed. */
  mustDefer(): boolean {
    if (this.ready.length > 0) return true; // others are waiting: no jumping the queue
    const now = performance.now();
    if (this.turnStart < 0) {
      this.turnStart = now;
      setImmediate(() => (this.turnStart = -1));
      return false;
    }
    return now - this.turnStart > TURN_BUDGET_MS;
  }

  /** `d` has set-aside chunks. */
  add(d: Deferrable): void {
    if (!this.queued.has(d)) {
      this.queued.add(d);
      this.ready.push(d);
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const start = performance.now();
    while (this.ready.length > 0) {
      if (performance.now() - start > TURN_BUDGET_MS) {
        this.schedule();
        return;
      }
      const d = this.ready.shift()!;
      if (d.step()) this.ready.push(d);
      else this.queued.delete(d);
    }
  }
}

const scheduler = new TurnScheduler();

function streamOf(source: LogSource): Readable {
  return source instanceof Readable ? source : source.stream;
}

function openAppend(file: string, mode: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.open(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, mode, (err, fd) => (err ? reject(err) : resolve(fd)));
  });
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

function writev(fd: number, bufs: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.writev(fd, bufs, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** Drops the first `n` bytes of `bufs`. */
function skipBytes(bufs: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && n >= bufs[i]!.length) n -= bufs[i++]!.length;
  const rest = bufs.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

class Subscription {
  private queue: Array<[LogStream, Buffer]> = [];
  private queuedBytes = 0;
  private droppedBytes = 0;
  /** dropped() was called since the last data(): further drops wait for the next data(). */
  private toldDropping = false;
  private busy = false;
  private ending = false;
  closed = false;

  constructor(
    private readonly listener: OutputListener,
    private readonly maxQueuedBytes: number,
    private readonly log: Logger,
    private readonly onRemove: (s: Subscription) => void,
  ) {}

  deliver(stream: LogStream, chunk: Buffer): void {
    if (this.closed || this.ending) return;
    if (this.busy || this.queue.length > 0) {
      if (this.queuedBytes + chunk.length > this.maxQueuedBytes) {
        if (this.toldDropping) {
          this.droppedBytes += chunk.length;
        } else {
          // Tell it at once (it may be stuck for good and want to give up); later drops are
          // added up and told before its next data().
          this.toldDropping = true;
          this.droppedBytes += chunk.length;
          this.reportDropped();
        }
        return;
      }
      this.queue.push([stream, chunk]);
      this.queuedBytes += chunk.length;
      return;
    }
    this.call(stream, chunk);
  }

  /** No more data: end() once the queue is delivered. */
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.drain();
  }

  remove(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queuedBytes = 0;
    this.onRemove(this);
  }

  private fail(err: unknown): void {
    this.log.warn({ err }, 'container output listener failed; removed');
    this.remove();
  }

  private reportDropped(): void {
    if (this.droppedBytes === 0) return;
    const n = this.droppedBytes;
    this.droppedBytes = 0;
    try {
      this.listener.dropped?.(n);
    } catch (err) {
      this.fail(err);
    }
  }

  private call(stream: LogStream, chunk: Buffer): void {
    this.reportDropped();
    this.toldDropping = false;
    if (this.closed) return;
    let r: void | Promise<unknown>;
    try {
      r = this.listener.data(stream, chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (r && typeof (r as Promise<unknown>).then === 'function') {
      this.busy = true;
      (r as Promise<unknown>).then(
        () => {
          this.busy = false;
          this.drain();
        },
        (err: unknown) => {
          this.busy = false;
          this.fail(err);
        },
      );
    }
  }

  private drain(): void {
    while (!this.busy && !this.closed && this.queue.length > 0) {
      const [stream, chunk] = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      this.call(stream, chunk);
    }
    if (this.busy || this.closed) return;
    this.reportDropped();
    if (this.ending && !this.closed) {
      this.closed = true;
      this.onRemove(this);
      try {
        this.listener.end?.();
      } catch (err) {
        this.log.warn({ err }, 'container output listener failed at end');
      }
    }
  }
}

export class ContainerLogger {
  readonly path: string | undefined;
  /** Resolves once the logger is closed (all sources ended or close() finished) and the file closed. */
  readonly done: Promise<void>;

  private readonly log: Logger;
  private readonly clock: () => bigint;
  private readonly highWaterMark: number;
  private readonly fileMode: number;
  private readonly sources: SourceState[] = [];
  private readonly subscriptions = new Set<Subscription>();

  private fd: number | undefined;
  private queue: QueueItem[] = [];
  private head = 0;
  private queuedBytes = 0;
  private writing = false;
  /** Paused for backpressure: the file queue is over highWaterMark. */
  private paused = false;
  /** Chunks set aside over the turn budget, in arrival order. */
  private deferred: Array<[SourceState, Buffer]> = [];
  /** close() is taking the sources down: no more resuming. */
  private stopping = false;
  private finishing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private finished = false;
  private resolveDone!: () => void;
  private idleWaiters: Array<() => void> = [];
  private allEndedWaiters: Array<() => void> = [];

  private writtenBytes = 0;
  private droppedBytes = 0;
  private writeErrors = 0;
  private lastWriteErrorLog = 0;

  private constructor(opts: ContainerLoggerOptions, fd: number | undefined) {
    this.path = opts.path;
    this.log = opts.logger;
    this.clock = opts.clock ?? nanoTime;
    this.highWaterMark = opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    this.fileMode = opts.fileMode ?? 0o640;
    this.fd = fd;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    const add = (name: LogStream, source: LogSource | undefined): void => {
      if (!source) return;
      const encoder = new CriLogEncoder(name, { maxLineBytes: opts.maxLineBytes, trailingTag: opts.trailingTag });
      this.sources.push({ name, source, stream: streamOf(source), encoder, ended: false });
    };
    add('stdout', opts.stdout);
    add('stderr', opts.stderr);
  }

  /**
   * Opens (creates, appending; parent directories created as needed) the log file and starts
   * reading the sources. Rejects if the file cannot be opened (the container should not start
   * without its log); the sources are left alone then.
   */
  static async open(opts: ContainerLoggerOptions): Promise<ContainerLogger> {
    if (opts.highWaterMark !== undefined && !(opts.highWaterMark > 0)) throw new RangeError('highWaterMark must be positive');
    let fd: number | undefined;
    if (opts.path !== undefined) {
      if (!path.isAbsolute(opts.path)) throw new Error(`container log path must be absolute: ${opts.path}`);
      fd = await ContainerLogger.openFile(opts.path, opts.fileMode ?? 0o640);
    }
    const logger = new ContainerLogger(opts, fd);
    logger.start();
    return logger;
  }

  private static async openFile(file: string, mode: number): Promise<number> {
    await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    return openAppend(file, mode);
  }

  get stats(): ContainerLoggerStats {
    return { writtenBytes: this.writtenBytes, droppedBytes: this.droppedBytes };
  }

  /** Whether the logger is finished (closed, or all its sources ended and the file was closed). */
  get closed(): boolean {
    return this.finished;
  }

  /**
   * Tees the raw output to `listener` (for attach) until the output ends or the returned function
   * is called. See OutputListener for the delivery and dropping rules.
   */
  onOutput(listener: OutputListener, opts: OutputListenerOptions = {}): () => void {
    const sub = new Subscription(listener, opts.maxQueuedBytes ?? DEFAULT_LISTENER_QUEUE, this.log, (s) => this.subscriptions.delete(s));
    if (this.finishing || this.finished) {
      sub.end();
      return () => undefined;
    }
    this.subscriptions.add(sub);
    return () => sub.remove();
  }

  /**
   * ReopenContainerLog: after kubelet renamed the file, closes it and opens the path again (a new
   * file). Records queued before the call are written to the old file first. Re-creates a missing
   * log directory (with a warning). If the path cannot be opened, keeps writing to the old file and
   * rejects.
   */
  reopen(): Promise<void> {
    if (this.finishing || this.finished) return Promise.reject(new Error('container logger is closed'));
    if (this.path === undefined) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ reopen: true, resolve, reject });
      this.kick();
    });
  }

  /** Stops reading (see ContainerLoggerCloseOptions), writes out what was read and closes the file. Idempotent. */
  close(opts: ContainerLoggerCloseOptions = {}): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.doClose(opts.waitForEof ?? true, opts.timeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------

  private start(): void {
    for (const s of this.sources) {
      if (s.stream.readableEnded || s.stream.destroyed) {
        this.onSourceEnd(s);
        continue;
      }
      s.stream.on('data', (chunk: Buffer | string) => this.onData(s, typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
      s.stream.once('end', () => this.onSourceEnd(s));
      s.stream.once('close', () => this.onSourceEnd(s));
      s.stream.on('error', (err: Error) => {
        this.log.warn({ err, stream: s.name, path: this.path }, 'reading container output failed');
        this.onSourceEnd(s);
      });
    }
    if (this.sources.length === 0) void this.finish();
  }

  private onData(s: SourceState, chunk: Buffer): void {
    if (s.ended || chunk.length === 0) return;
    if (this.deferred.length > 0 || scheduler.mustDefer()) {
      // Keep arrival order: once anything is set aside, everything after it is too.
      this.deferred.push([s, chunk]);
      this.updateFlow();
      scheduler.add(this.deferrable);
      return;
    }
    this.process(s, chunk);
  }

  /** For the scheduler: one set-aside chunk at a time, then flowing again. */
  private readonly deferrable: Deferrable = {
    step: () => {
      const next = this.deferred.shift();
      if (next) this.process(next[0], next[1]);
      if (this.deferred.length > 0) return true;
      this.updateFlow();
      return false;
    },
  };

  /** Processes set-aside chunks now (before a source's end, or when closing). */
  private flushDeferred(): void {
    while (this.deferred.length > 0) {
      const [s, chunk] = this.deferred.shift()!;
      this.process(s, chunk);
    }
  }

  private process(s: SourceState, chunk: Buffer): void {
    for (const sub of this.subscriptions) sub.deliver(s.name, chunk);
    if (this.path === undefined) return; // nowhere to keep it
    const out = s.encoder.encode(chunk, this.clock());
    if (out) this.enqueue(out);
  }

  private onSourceEnd(s: SourceState): void {
    if (s.ended) return;
    this.flushDeferred();
    s.ended = true;
    if (this.path !== undefined) {
      const rest = s.encoder.end(this.clock());
      if (rest) this.enqueue(rest);
    }
    if (this.sources.every((x) => x.ended)) {
      for (const w of this.allEndedWaiters.splice(0)) w();
      void this.finish();
    }
  }

  private enqueue(buf: Buffer): void {
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    if (!this.paused && this.queuedBytes >= this.highWaterMark) {
      this.paused = true;
      this.updateFlow();
    }
    this.kick();
  }

  private maybeResume(): void {
    if (this.paused && this.queuedBytes <= this.highWaterMark / 4) {
      this.paused = false;
      this.updateFlow();
    }
  }

  /** Sources flow unless the file queue is full or chunks are set aside. */
  private updateFlow(): void {
    const flow = !this.paused && this.deferred.length === 0 && !this.stopping;
    for (const s of this.sources) {
      if (s.ended) continue;
      if (flow && s.stream.isPaused()) s.stream.resume();
      else if (!flow && !s.stream.isPaused()) s.stream.pause();
    }
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = true;
    void this.pump();
  }

  /** The single writer: writes queued records in order and carries out reopens between writes. */
  private async pump(): Promise<void> {
    try {
      while (this.head < this.queue.length) {
        const item = this.queue[this.head]!;
        if (!Buffer.isBuffer(item)) {
          this.head++;
          await this.doReopen(item);
          continue;
        }
        const batch: Buffer[] = [];
        let size = 0;
        while (this.head < this.queue.length && batch.length < MAX_BATCH_BUFFERS && size < MAX_BATCH_BYTES) {
          const next = this.queue[this.head]!;
          if (!Buffer.isBuffer(next)) break;
          batch.push(next);
          size += next.length;
          this.head++;
        }
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        await this.writeBatch(batch, size);
        this.queuedBytes -= size;
        this.maybeResume();
      }
    } finally {
      if (this.head >= this.queue.length) {
        this.queue = [];
        this.head = 0;
      }
      this.writing = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async writeBatch(batch: Buffer[], size: number): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) return;
    let bufs = batch;
    let left = size;
    try {
      while (left > 0) {
        const n = await writev(fd, bufs);
        this.writtenBytes += n;
        left -= n;
        if (left > 0) bufs = skipBytes(bufs, n);
      }
    } catch (err) {
      this.droppedBytes += left;
      this.writeErrors++;
      const now = Date.now();
      if (now - this.lastWriteErrorLog >= WRITE_ERROR_LOG_INTERVAL_MS) {
        this.lastWriteErrorLog = now;
        this.log.warn({ err, path: this.path, errors: this.writeErrors, droppedBytes: this.droppedBytes }, 'writing container log failed; dropping records');
      }
    }
  }

  private async doReopen(req: ReopenRequest): Promise<void> {
    const file = this.path!;
    try {
      const dir = path.dirname(file);
      const created = await fs.promises.mkdir(dir, { recursive: true, mode: 0o755 });
      if (created !== undefined) this.log.warn({ path: file, dir: created }, 'container log directory was missing; re-created it');
      const fd = await openAppend(file, this.fileMode);
      const old = this.fd;
      this.fd = fd;
      if (old !== undefined) await closeFd(old);
      req.resolve();
    } catch (err) {
      this.log.warn({ err, path: file }, 'reopening container log failed; still writing to the old file');
      req.reject(err as Error);
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.writing && this.head >= this.queue.length) return Promise.resolve();
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.kick();
    });
  }

  private whenAllEnded(): Promise<void> {
    if (this.sources.every((s) => s.ended)) return Promise.resolve();
    return new Promise((resolve) => this.allEndedWaiters.push(resolve));
  }

  /** All sources ended: write out the queue, close the file, end the listeners. Idempotent. */
  private finish(): Promise<void> {
    if (this.finishing) return this.finishing;
    this.finishing = (async () => {
      for (const sub of [...this.subscriptions]) sub.end();
      // Writes, then reopens still queued, then writes behind them: until nothing is left.
      while (this.writing || this.head < this.queue.length) await this.whenIdle();
      const fd = this.fd;
      this.fd = undefined;
      if (fd !== undefined) await closeFd(fd);
      this.finished = true;
      this.resolveDone();
    })();
    return this.finishing;
  }

  private async doClose(waitForEof: boolean, timeoutMs: number): Promise<void> {
    if (waitForEof && !this.sources.every((s) => s.ended)) {
      for (const s of this.sources) if (!(s.source instanceof Readable)) s.source.release();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([this.whenAllEnded(), timedOut]);
      clearTimeout(timer);
      if (!this.sources.every((s) => s.ended)) {
        this.log.warn({ path: this.path, timeoutMs }, 'container output did not end in time; closing its FIFOs');
      }
    }
    this.stopping = true;
    for (const s of this.sources) {
      if (s.ended) continue;
      // Take what the stream has already read (read() emits it as 'data'), then stop it.
      while (!s.ended && s.stream.read() !== null);
      if (s.source instanceof Readable) s.source.destroy();
      else s.source.close();
      this.onSourceEnd(s);
    }
    await this.finish();
  }
}
