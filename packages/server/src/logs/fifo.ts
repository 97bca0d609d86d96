// The FIFOs through which containerd's shim hands a container's stdio to crisp.
//
// crisp passes their paths in Tasks.Create (`stdin` when the container has stdin, `stdout`, and
// `stderr` unless it has a TTY: a terminal has one output). The shim opens them and copies the
// container's output into them (and stdin out of it).
//
// Creating: Node has no mkfifo(3), so one `mkfifo -m 0600 <paths...>` spawn per container makes
// all of them at once (a couple of milliseconds in CreateContainer, which starts a shim anyway;
// a native addon would be the only alternative and is not worth a build step). Existing FIFOs are
// kept, so a retried CreateContainer or a restarted crisp gets the same paths back.
//
// Reading, without ever blocking a libuv pool thread (DOMAIN.md, "Node.js hazards"):
// - the read side is opened O_RDONLY | O_NONBLOCK, which returns at once even with no writer, and
//   is read through a net.Socket (libuv polls it on the event loop; no pool thread is involved);
// - a second, write-only descriptor (the "keepalive", opened O_WRONLY | O_NONBLOCK through
//   /proc/self/fd so it is certainly the same FIFO; it cannot block either since a reader exists)
//   keeps a writer on the FIFO: without it the reader would see EOF whenever the shim has not
//   opened it yet or closes and reopens it. It is the same effect as opening the reader O_RDWR,
//   but it can be dropped on its own.
//
// End of the container (EOF design): while the keepalive is open the stream never ends. When the
// container's task has exited (crisp sees `/tasks/exit`), crisp calls release(): the keepalive is
// closed, and once the shim has copied the last output and closed its end too, the kernel reports
// a real EOF after the last buffered byte, so the stream ends with nothing lost and no guessing
// about idle time. close() instead stops at once (for a crisp shutdown with the container still
// running, or after release() took too long because something else keeps a write end open).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';

const openAsync = promisify(fs.open);
const fstatAsync = promisify(fs.fstat);

const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK } = fs.constants;

const MKFIFO_TIMEOUT_MS = 10_000;

export class FifoError extends Error {
  override name = 'FifoError';
}

export interface FifoOptions {
  /** The container has stdin (`stdin: true` in its config): make a stdin FIFO too. */
  stdin?: boolean;
  /** The container has a TTY: its terminal output all arrives on stdout, so no stderr FIFO. */
  tty?: boolean;
}

/** The FIFO paths of one container, for Tasks.Create. */
export interface ContainerFifos {
  /** The per-container directory that holds them (what removeFifos() takes). */
  dir: string;
  stdin?: string;
  stdout: string;
  stderr?: string;
}

/** A name that stays one path component inside `dir`. */
function validId(id: string): boolean {
  return id !== '' && id !== '.' && id !== '..' && !id.includes('/') && !id.includes('\0') && id.length <= 255;
}

function mkfifo(paths: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // -m sets the mode exactly (not reduced by the umask).
    execFile('mkfifo', ['-m', '0600', '--', ...paths], { timeout: MKFIFO_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const why = e.killed ? `timed out after ${MKFIFO_TIMEOUT_MS} ms` : `${stderr}`.trim() || e.message;
      reject(new FifoError(`mkfifo ${paths.join(' ')}: ${why}`));
    });
  });
}

/** Whether `p` is a FIFO (false if absent; throws if it exists as something else). */
async function existingFifo(p: string): Promise<boolean> {
  try {
    const st = await fs.promises.lstat(p);
    if (st.isFIFO()) return true;
    throw new FifoError(`${p} exists and is not a FIFO`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Creates the stdio FIFOs of container `id` in `<dir>/<id>/` (`stdin`, `stdout`, `stderr`; the
 * directory mode 0700, the FIFOs 0600) and returns their paths. FIFOs that already exist are
 * reused. `dir` is crisp's directory for them, e.g. `<stateDir>/io`.
 */
export async function createFifos(dir: string, id: string, opts: FifoOptions = {}): Promise<ContainerFifos> {
  if (!path.isAbsolute(dir)) throw new FifoError(`FIFO directory must be absolute: ${dir}`);
  if (!validId(id)) throw new FifoError(`invalid container id for FIFOs: ${JSON.stringify(id)}`);
  const cdir = path.join(dir, id);
  await fs.promises.mkdir(cdir, { recursive: true, mode: 0o700 });
  const fifos: ContainerFifos = { dir: cdir, stdout: path.join(cdir, 'stdout') };
  if (opts.stdin) fifos.stdin = path.join(cdir, 'stdin');
  if (!opts.tty) fifos.stderr = path.join(cdir, 'stderr');
  const wanted = [fifos.stdin, fifos.stdout, fifos.stderr].filter((p): p is string => p !== undefined);
  const exists = await Promise.all(wanted.map(existingFifo));
  const missing = wanted.filter((_, i) => !exists[i]);
  if (missing.length > 0) await makeFifos(missing);
  return fifos;
}

// --- a pool of ready FIFOs --------------------------------------------------------------------------
// Node cannot mkfifo: each `mkfifo` is a process spawn, too slow for StartContainer and ExecSync (a
// liveness probe path). So FIFOs are made ahead, many per spawn, in a pool directory on the same
// filesystem, and renamed into place when needed (rename is atomic and needs no spawn).

/** FIFOs kept ready, and how many are made per refill. */
export const FIFO_POOL_LOW = 16;
export const FIFO_POOL_BATCH = 64;

let poolDir: string | undefined;
const pooled: string[] = [];
let refilling: Promise<void> | undefined;
let poolSeq = 0;

/** Turns the pool on (crisp's `<stateDir>/io/.pool`); what was left in it by an earlier crisp is cleared. */
export async function configureFifoPool(dir: string): Promise<void> {
  await fs.promises.rm(dir, { recursive: true, force: true });
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  poolDir = dir;
  pooled.length = 0;
  refillPool();
}

function refillPool(): void {
  if (!poolDir || refilling || pooled.length >= FIFO_POOL_LOW) return;
  const dir = poolDir;
  const names = Array.from({ length: FIFO_POOL_BATCH }, () => path.join(dir, `f${process.pid}-${poolSeq++}`));
  refilling = mkfifo(names)
    .then(() => {
      if (poolDir === dir) pooled.push(...names);
    })
    .catch(() => undefined)
    .finally(() => {
      refilling = undefined;
    });
}

/** Makes FIFOs at `paths`: from the pool by rename when it has them, else with one mkfifo spawn. */
async function makeFifos(paths: string[]): Promise<void> {
  const rest: string[] = [];
  await Promise.all(
    paths.map(async (p) => {
      const ready = pooled.pop();
      if (ready === undefined) {
        rest.push(p);
        return;
      }
      try {
        await fs.promises.rename(ready, p);
      } catch {
        rest.push(p); // another filesystem, or the pool was cleared: make this one directly
      }
    }),
  );
  refillPool();
  if (rest.length > 0) await mkfifo(rest);
}

/** Removes a container's FIFO directory (ContainerFifos.dir) and all in it. Idempotent. */
export async function removeFifos(dir: string): Promise<void> {
  if (!path.isAbsolute(dir)) throw new FifoError(`FIFO directory must be absolute: ${dir}`);
  // Unlinking a FIFO is fine while it is open: open descriptors keep working.
  await fs.promises.rm(dir, { recursive: true, force: true });
}

/** The read side of a container output FIFO. */
export interface FifoReader {
  readonly path: string;
  /** The container's bytes ('data'); ends ('end') only after release() and the last writer's close. */
  readonly stream: Readable;
  /** Whether release() or close() was called. */
  readonly released: boolean;
  /**
   * Stops keeping the FIFO open for writing: once every other writer (the shim) has closed it and
   * the buffered bytes have been read, the stream ends. Call it when the task has exited.
   * Idempotent.
   */
  release(): void;
  /** Closes at once; bytes not yet read stay in the FIFO (or are gone, if no one else holds it). Idempotent. */
  close(): void;
}

function closeFd(fd: number): void {
  fs.close(fd, () => undefined);
}

/**
 * Opens `fifoPath` for reading without blocking (see the top of this file). Like any Readable, the
 * stream buffers up to its highWaterMark until a consumer attaches.
 */
export async function openFifoReader(fifoPath: string): Promise<FifoReader> {
  const rfd = await openAsync(fifoPath, O_RDONLY | O_NONBLOCK);
  let keepalive: number | undefined;
  let socket: net.Socket;
  try {
    if (!(await fstatAsync(rfd)).isFIFO()) throw new FifoError(`${fifoPath} is not a FIFO`);
    // There is a reader now (rfd), so a non-blocking write-only open succeeds at once.
    keepalive = await openAsync(`/proc/self/fd/${rfd}`, O_WRONLY | O_NONBLOCK);
    socket = new net.Socket({ fd: rfd, readable: true, writable: false, allowHalfOpen: true });
  } catch (err) {
    closeFd(rfd);
    if (keepalive !== undefined) closeFd(keepalive);
    throw err;
  }
  let released = false;
  const release = (): void => {
    released = true;
    if (keepalive === undefined) return;
    closeFd(keepalive);
    keepalive = undefined;
  };
  // However the socket goes (EOF, error, destroy), the keepalive must not outlive it.
  socket.once('close', release);
  return {
    path: fifoPath,
    stream: socket,
    get released() {
      return released;
    },
    release,
    close() {
      release();
      socket.destroy();
    },
  };
}

/** The write side of a container's stdin FIFO. */
export interface FifoWriter {
  readonly path: string;
  /** Bytes for the container's stdin; end() it to give the container EOF. */
  readonly stream: Writable;
  /** Ends the stream: closes it once what was written has gone into the FIFO. Idempotent. */
  close(): void;
  /** Closes at once, dropping what was not yet written (e.g. when the container has exited). Idempotent. */
  destroy(): void;
}

/**
 * Opens a stdin FIFO for writing without blocking: O_RDWR | O_NONBLOCK, because a write-only
 * non-blocking open fails (ENXIO) until the shim has opened the read side, and a blocking one
 * would tie up a pool thread. crisp never reads from it. Bytes written before the shim opens it
 * wait in the FIFO (64 KiB; beyond that in the stream's buffer, with the usual write() === false
 * backpressure). The container sees EOF when the stream is ended and the shim's copy drained it.
 */
export async function openFifoWriter(fifoPath: string): Promise<FifoWriter> {
  const fd = await openAsync(fifoPath, O_RDWR | O_NONBLOCK);
  let socket: net.Socket;
  try {
    if (!(await fstatAsync(fd)).isFIFO()) throw new FifoError(`${fifoPath} is not a FIFO`);
    socket = new net.Socket({ fd, readable: false, writable: true, allowHalfOpen: true });
  } catch (err) {
    closeFd(fd);
    throw err;
  }
  // Write errors must not become uncaught 'error' events; callers may listen too.
  socket.on('error', () => undefined);
  return {
    path: fifoPath,
    stream: socket,
    close() {
      if (socket.destroyed || socket.writableEnded) return;
      socket.end(() => socket.destroy());
    },
    destroy() {
      socket.destroy();
    },
  };
}
