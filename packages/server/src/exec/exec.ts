// Running a command in a running container, and ExecSync on top of it.
//
// execInContainer: the process spec is the container's own with the exec's command (process-spec.ts);
// its stdio goes through FIFOs in `<stateDir>/io/<containerId>/exec-<execId>/`, opened before
// Tasks.Exec and read without blocking (logs/fifo.ts). Tasks.Wait is called before Tasks.Start (as
// containerd's own client does) so that no exit is missed. On a timeout or the caller's
// cancellation the exec process gets SIGKILL. Once it has exited, the readers are released and the
// output is drained to EOF (the shim may still be copying the last bytes), bounded: a background
// process the command left behind may hold the output open forever. Whatever happens, the exec
// process is deleted from containerd (Tasks.DeleteProcess) and its FIFOs removed.
import { cri, task } from '@crisp/api';
import { OCI_SPEC_TYPE_URL, isNotFound, packJson, unpackSpec } from '@crisp/containerd';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable, finished } from 'node:stream';
import { runningContainerId } from '../container/attach';
import type { ContainerRecord } from '../container/record';
import { closeProcessStdin } from '../container/stdin';
import type { CrispContext } from '../context';
import { CrispError, Status, deadlineExceeded, internal, invalidArgument } from '../errors';
import type { Logger } from '../log';
import { FifoReader, FifoWriter, createFifos, openFifoReader, openFifoWriter, removeFifos } from '../logs';
import { SIGKILL } from '../oci/signal';
import type { Spec } from '../oci/types';
import { CappedOutput } from './capped';
import { PROCESS_SPEC_TYPE_URL, execProcessSpec } from './process-spec';

/** How long the output may stay open after the process exited (bytes still in the shim's pipes take far less). */
export const EXEC_DRAIN_TIMEOUT_MS = 5_000;
/** The least time the output gets to drain, even when the exec's timeout is (nearly) over. */
const MIN_DRAIN_MS = 250;
/** How long a killed exec process may take to be reported exited. */
const KILL_WAIT_MS = 10_000;
/** Longest delay setTimeout honours; a longer exec timeout is no timeout (it would fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How much of each stream a DEADLINE_EXCEEDED message quotes. */
const QUOTED_OUTPUT_BYTES = 512;

/**
 * Takes a chunk of the process's output. Returning a promise pauses the reading until it settles
 * (backpressure from a slow client); returning nothing keeps reading.
 */
export type OutputConsumer = (chunk: Buffer) => void | Promise<unknown>;

export interface ExecOptions {
  /** The command and its arguments; not empty. */
  cmd: readonly string[];
  /** Run on a terminal: all output arrives through onStdout. */
  tty: boolean;
  /** The process's stdin (its end gives the process EOF); without it the process has none. */
  stdin?: Readable;
  /** SIGKILL the process after this long; 0 or absent: never. */
  timeoutMs?: number;
  /** The caller's cancellation: the process is killed and the call rejects with CANCELLED. */
  signal: AbortSignal;
  onStdout: OutputConsumer;
  /** Never called with a TTY. */
  onStderr: OutputConsumer;
  /** Called once the process runs, e.g. to apply the client's terminal size. */
  onStarted?(proc: ExecProcess): void;
}

/** A started exec process. */
export interface ExecProcess {
  containerId: string;
  execId: string;
  pid: number;
  /** Tasks.ResizePty of this process (TTY only). */
  resize(width: number, height: number): Promise<void>;
}

export interface ExecResult {
  containerId: string;
  execId: string;
  /** The exit status containerd reports (128 + signal for a killed process). */
  exitCode: number;
  /** The process was killed because timeoutMs passed. */
  timedOut: boolean;
  /** The output was still open EXEC_DRAIN_TIMEOUT_MS after the exit and was cut off. */
  outputCutOff: boolean;
}

function sleep(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

/** Whether `p` settled within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  const t = sleep(ms);
  try {
    return await Promise.race([p.then(() => true, () => true), t.promise.then(() => false)]);
  } finally {
    t.cancel();
  }
}

/** Feeds a reader's bytes to `onData`; resolves at its end, however it ends. */
export function consumeOutput(reader: FifoReader, onData: OutputConsumer, log: Logger): Promise<void> {
  const { stream } = reader;
  const resume = (): void => void (stream.destroyed || stream.resume());
  stream.on('data', (chunk: Buffer) => {
    try {
      const wait = onData(chunk);
      // A slow consumer pauses the FIFO: the process then blocks on its full pipe, nothing piles up here.
      if (wait) {
        stream.pause();
        wait.then(resume, resume);
      }
    } catch (err) {
      log.warn({ err, fifo: reader.path }, 'exec output consumer threw');
    }
  });
  reader.stream.on('error', (err) => log.debug({ err, fifo: reader.path }, 'exec output FIFO error'));
  return new Promise((resolve) => finished(reader.stream, { writable: false }, () => resolve()));
}

/**
 * The OCI spec of each container record, parsed once: records are replaced (never edited) when a
 * container changes, so the WeakMap never serves a stale spec and forgets removed containers.
 */
const specs = new WeakMap<ContainerRecord, Spec>();

/** Checks the container (NOT_FOUND, FAILED_PRECONDITION) and returns its id and OCI spec. */
async function runningContainer(ctx: CrispContext, containerId: string, signal: AbortSignal): Promise<{ id: string; spec: Spec }> {
  // The state crisp keeps (its own starts, the exit events) rather than a Tasks.Get per exec, as the
  // peers do; an exit not seen yet makes Tasks.Exec fail, which is reported as containerd says.
  const id = await runningContainerId(ctx, containerId);
  const rec = ctx.containers.store.mustFind(id);
  let spec = specs.get(rec);
  if (!spec) {
    const { container } = await ctx.containerd.containers.get({ id }, { signal });
    if (!container?.spec || container.spec.typeUrl !== OCI_SPEC_TYPE_URL) throw internal(`container ${id} has no OCI spec`);
    spec = unpackSpec<Spec>(container.spec);
    specs.set(rec, spec);
  }
  return { id, spec };
}

/**
 * Runs `opts.cmd` in running container `containerId` (a full id or a unique prefix) with the
 * container's user, environment, working directory and security settings, and resolves with its
 * exit once all its output went to the callbacks. Independent of any other exec in the container.
 */
export async function execInContainer(ctx: CrispContext, containerId: string, opts: ExecOptions): Promise<ExecResult> {
  if (opts.cmd.length === 0) throw invalidArgument('exec: cmd must not be empty');
  const { signal, tty } = opts;
  signal.throwIfAborted();
  const { id, spec } = await runningContainer(ctx, containerId, signal);
  if (!spec.process) throw internal(`the OCI spec of container ${id} has no process`);
  const processSpec = execProcessSpec(spec.process, opts.cmd, tty);
  const { containerd } = ctx;
  const execId = randomBytes(8).toString('hex');
  const log = ctx.logger.child({ containerId: id, execId, component: 'exec' });

  const ioDir = path.join(ctx.config.stateDir, 'io', id);
  const fifos = await createFifos(ioDir, `exec-${execId}`, { tty, stdin: opts.stdin !== undefined }).catch(async (err: unknown) => {
    await removeFifos(path.join(ioDir, `exec-${execId}`)).catch(() => undefined);
    throw err;
  });
  const readers: FifoReader[] = [];
  const outputs: Promise<void>[] = [];
  let stdin: FifoWriter | undefined;
  let created = false;
  let exited = false;
  let waiting: Promise<number> | undefined;
  const waitControl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const kill = async (): Promise<void> => {
    await containerd.tasks.kill({ containerId: id, execId, signal: SIGKILL, all: false }).catch((err: unknown) => {
      // Already gone: it exited meanwhile.
      if (!isNotFound(err)) log.warn({ err }, 'could not kill the exec process');
    });
  };
  try {
    // The readers exist before the shim opens the FIFOs, and read from the start.
    const [stdout, stderr, stdinWriter] = await Promise.allSettled([
      openFifoReader(fifos.stdout),
      fifos.stderr ? openFifoReader(fifos.stderr) : undefined,
      fifos.stdin ? openFifoWriter(fifos.stdin) : undefined,
    ]);
    for (const [r, onData] of [[stdout, opts.onStdout], [stderr, opts.onStderr]] as const) {
      if (r.status !== 'fulfilled' || !r.value) continue;
      readers.push(r.value);
      outputs.push(consumeOutput(r.value, onData, log));
    }
    if (stdinWriter.status === 'fulfilled') stdin = stdinWriter.value;
    for (const r of [stdout, stderr, stdinWriter]) if (r.status === 'rejected') throw r.reason;

    // Exec and Start are not cut short by the caller's cancellation (which is seen right after):
    // an aborted call could leave a process containerd made without our knowing. If Exec fails,
    // reap() finds no process and is done.
    created = true;
    await containerd.tasks.exec(
      {
        containerId: id,
        execId,
        stdin: fifos.stdin ?? '',
        stdout: fifos.stdout,
        stderr: fifos.stderr ?? '',
        terminal: tty,
        spec: packJson(PROCESS_SPEC_TYPE_URL, processSpec),
      },
    );
    const exit = containerd.tasks.wait({ containerId: id, execId }, { signal: waitControl.signal }).then((r) => {
      exited = true;
      return r.exitStatus;
    });
    waiting = exit;
    exit.catch(() => undefined);
    const { pid } = await containerd.tasks.start({ containerId: id, execId });
    const startedAt = Date.now();
    log.debug({ pid, cmd: opts.cmd }, 'exec started');

    if (stdin && opts.stdin) {
      const w = stdin;
      const src = opts.stdin;
      src.pipe(w.stream, { end: false });
      // EOF reaches the process only when the FIFO's last writer closes: ours, and the one the shim
      // keeps open until Tasks.CloseIO.
      const closeStdin = (): void => closeProcessStdin(containerd, w, id, execId, log);
      if (src.readableEnded) closeStdin();
      else {
        src.once('end', closeStdin);
        src.once('error', closeStdin);
      }
    }
    opts.onStarted?.({
      containerId: id,
      execId,
      pid,
      resize: async (width, height) => {
        await containerd.tasks.resizePty({ containerId: id, execId, width, height });
      },
    });

    const timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 && opts.timeoutMs <= MAX_TIMER_MS ? opts.timeoutMs : 0;
    const interrupted = new Promise<'timeout' | 'cancelled'>((resolve) => {
      if (timeoutMs > 0) timer = setTimeout(() => resolve('timeout'), timeoutMs);
      onAbort = () => resolve('cancelled');
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const outcome = await Promise.race([exit.then(() => 'exited' as const, () => 'exited' as const), interrupted]);
    if (outcome !== 'exited') {
      log.debug({ why: outcome }, 'killing the exec process');
      await kill();
      if (!(await within(exit, KILL_WAIT_MS))) throw internal(`exec ${execId} in container ${id} did not exit within ${KILL_WAIT_MS} ms of SIGKILL`);
    }
    const exitCode = await exit;
    if (outcome === 'cancelled') throw new CrispError(Status.CANCELLED, `exec in container ${id} cancelled by the caller`);

    // The process is gone; what it wrote may still be on its way through the shim. A timeout also
    // bounds this wait (but leaves it a moment: the bytes in the pipes take well under that).
    for (const r of readers) r.release();
    const drainMs = timeoutMs > 0 ? Math.min(EXEC_DRAIN_TIMEOUT_MS, Math.max(MIN_DRAIN_MS, startedAt + timeoutMs - Date.now())) : EXEC_DRAIN_TIMEOUT_MS;
    const drained = await within(Promise.all(outputs), drainMs);
    if (!drained) log.warn({ drainMs }, 'exec output still open after the process exited (a background process holds it?): cut off');
    log.debug({ exitCode, timedOut: outcome === 'timeout' }, 'exec exited');
    return { containerId: id, execId, exitCode, timedOut: outcome === 'timeout', outputCutOff: !drained };
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
    if (opts.stdin && stdin) opts.stdin.unpipe(stdin.stream);
    stdin?.destroy();
    // The FIFOs can go while the shim still holds them open: both in parallel.
    const removing = removeFifos(fifos.dir).catch((err: unknown) => log.warn({ err, dir: fifos.dir }, 'could not remove the exec FIFOs'));
    if (created) await reap(ctx, id, execId, exited, waiting, kill, log);
    waitControl.abort();
    for (const r of readers) r.close();
    await removing;
  }
}

/** Makes sure the exec process is gone from containerd: killed if it still runs, then deleted. */
async function reap(
  ctx: CrispContext,
  id: string,
  execId: string,
  exited: boolean,
  waiting: Promise<number> | undefined,
  kill: () => Promise<void>,
  log: Logger,
): Promise<void> {
  const { containerd } = ctx;
  try {
    if (!exited) {
      // An error or a cancellation before its exit: it may be created, running or already stopped.
      const { process } = await containerd.tasks.get({ containerId: id, execId });
      const status = process?.status;
      if (status !== undefined && status !== task.Status.CREATED && status !== task.Status.STOPPED) {
        await kill();
        if (waiting && !(await within(waiting, KILL_WAIT_MS))) log.warn('exec process not reported exited after SIGKILL');
      }
    }
    await containerd.tasks.deleteProcess({ containerId: id, execId });
  } catch (err) {
    // The container's task (and its execs with it) may be gone already.
    if (!isNotFound(err)) log.warn({ err }, 'could not delete the exec process');
  }
}

function quote(out: CappedOutput): string {
  const head = out.head(QUOTED_OUTPUT_BYTES).toString('utf8');
  const total = out.length + out.dropped;
  return `${JSON.stringify(head)}${total > QUOTED_OUTPUT_BYTES ? ` (first ${QUOTED_OUTPUT_BYTES} of ${total} bytes)` : ''}`;
}

/**
 * CRI ExecSync: the command's stdout and stderr (each capped at 16 MiB, the rest dropped) and exit
 * code. On `timeout` (seconds, 0 = none) the process is killed and the call fails with
 * DEADLINE_EXCEEDED, whose message quotes the start of what it produced (a gRPC error has no body).
 */
export async function execSync(ctx: CrispContext, req: cri.ExecSyncRequest, signal: AbortSignal): Promise<cri.ExecSyncResponse> {
  if (req.cmd.length === 0) throw invalidArgument('ExecSync: cmd must not be empty');
  if (req.timeout < 0n) throw invalidArgument(`ExecSync: timeout must not be negative, got ${req.timeout}`);
  const timeoutMs = req.timeout > 0n && req.timeout <= BigInt(Math.floor(MAX_TIMER_MS / 1000)) ? Number(req.timeout) * 1000 : 0;
  const stdout = new CappedOutput();
  const stderr = new CappedOutput();
  const result = await execInContainer(ctx, req.containerId, {
    cmd: req.cmd,
    tty: false,
    timeoutMs,
    signal,
    onStdout: (c) => stdout.push(c),
    onStderr: (c) => stderr.push(c),
  });
  const log = ctx.logger.child({ containerId: result.containerId, execId: result.execId, component: 'exec' });
  if (stdout.truncated || stderr.truncated) {
    log.info({ stdoutDropped: stdout.dropped, stderrDropped: stderr.dropped, cap: stdout.cap }, 'ExecSync output over the cap: the rest dropped');
  }
  if (result.timedOut) {
    log.info(
      { cmd: req.cmd, timeoutSeconds: Number(req.timeout), stdoutBytes: stdout.length + stdout.dropped, stderrBytes: stderr.length + stderr.dropped, stdout: stdout.head(QUOTED_OUTPUT_BYTES).toString('utf8'), stderr: stderr.head(QUOTED_OUTPUT_BYTES).toString('utf8') },
      'ExecSync timed out: process killed',
    );
    throw deadlineExceeded(`command ${JSON.stringify(req.cmd)} timed out after ${req.timeout} s and was killed; stdout so far: ${quote(stdout)}; stderr so far: ${quote(stderr)}`);
  }
  return { stdout: stdout.toBuffer(), stderr: stderr.toBuffer(), exitCode: result.exitCode };
}
