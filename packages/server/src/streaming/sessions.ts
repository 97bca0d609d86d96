// Exec and attach sessions: a validated CRI request run against a connected client's streams, with
// the outcome reported on the error stream. A client that goes away ends the session: an exec
// process is killed and reaped (execInContainer's cancellation), an attachment detaches.
import type { cri } from '@crisp/api';
import { attachToContainer } from '../container/attach';
import type { CrispContext } from '../context';
import { execInContainer } from '../exec/exec';
import type { ExecProcess } from '../exec/exec';
import type { Logger } from '../log';
import { exitCodeStatus, internalErrorStatus, successStatus } from './protocol';
import type { StatusDocument, TerminalSize } from './protocol';
import type { RemoteCommandStreams } from './remotecommand';

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function runExecSession(ctx: CrispContext, req: cri.ExecRequest, streams: RemoteCommandStreams, log: Logger): Promise<void> {
  const abort = new AbortController();
  const onGone = (): void => abort.abort();
  streams.clientGone.addEventListener('abort', onGone, { once: true });
  if (streams.clientGone.aborted) abort.abort();

  // Sizes that arrive before the process runs are applied when it starts (the last one wins).
  let proc: ExecProcess | undefined;
  let pending: TerminalSize | undefined;
  const resize = (size: TerminalSize): void => {
    if (!proc) {
      pending = size;
      return;
    }
    proc.resize(size.width, size.height).catch((err: unknown) => log.debug({ err, ...size }, 'exec resize failed'));
  };
  if (req.tty) streams.onResize(resize);

  const stdin = req.stdin ? streams.stdin : undefined;
  let status: StatusDocument;
  try {
    const result = await execInContainer(ctx, req.containerId, {
      cmd: req.cmd,
      tty: req.tty,
      ...(stdin ? { stdin } : {}),
      signal: abort.signal,
      onStdout: (chunk) => streams.stdout?.write(chunk),
      onStderr: (chunk) => streams.stderr?.write(chunk),
      onStarted: (p) => {
        proc = p;
        if (pending) resize(pending);
      },
    });
    log.debug({ execId: result.execId, exitCode: result.exitCode }, 'exec session: process exited');
    status = result.exitCode === 0 ? successStatus() : exitCodeStatus(result.exitCode);
  } catch (err) {
    if (streams.clientGone.aborted) {
      log.debug('exec session: the client went away; process killed');
      return;
    }
    log.info({ err }, 'exec session failed');
    status = internalErrorStatus(`error executing command in container: ${errorMessage(err)}`);
  } finally {
    streams.clientGone.removeEventListener('abort', onGone);
  }
  streams.finish(status);
}

export async function runAttachSession(ctx: CrispContext, req: cri.AttachRequest, streams: RemoteCommandStreams, log: Logger): Promise<void> {
  const detach = new AbortController();
  const onGone = (): void => detach.abort();
  streams.clientGone.addEventListener('abort', onGone, { once: true });
  if (streams.clientGone.aborted) detach.abort();
  let status: StatusDocument;
  try {
    const attachment = await attachToContainer(ctx, req.containerId, {
      ...(req.stdin && streams.stdin ? { stdin: streams.stdin } : {}),
      // A TTY container's output is all on stdout; else each stream goes where the client asked.
      onOutput: (stream, chunk) => (stream === 'stdout' ? streams.stdout?.write(chunk) : streams.stderr?.write(chunk)),
      signal: detach.signal,
    });
    if (attachment.tty) {
      streams.onResize((size) => {
        attachment.resize(size.width, size.height).catch((err: unknown) => log.debug({ err, ...size }, 'attach resize failed'));
      });
    }
    const how = await attachment.done;
    if (how === 'detached') {
      log.debug('attach session: the client went away');
      return;
    }
    log.debug('attach session: the container output ended');
    status = successStatus();
  } catch (err) {
    if (streams.clientGone.aborted) return;
    log.info({ err }, 'attach session failed');
    status = internalErrorStatus(`error attaching to container: ${errorMessage(err)}`);
  } finally {
    streams.clientGone.removeEventListener('abort', onGone);
  }
  streams.finish(status);
}
