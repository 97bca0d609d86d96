// Attaching to a running container's own stdio: its output comes from the container's log writer
// (which keeps writing the CRI log meanwhile), the client's input goes to the container's stdin
// FIFO, and a TTY is resized through its init process. Several clients may attach at once.
//
// stdin_once: when the first client attached to stdin closes it (or detaches), the container's
// stdin is closed (EOF) for good; without it, the container's stdin stays open for the next client.
import { cri } from '@crisp/api';
import type { Readable } from 'node:stream';
import type { CrispContext } from '../context';
import { failedPrecondition, invalidArgument } from '../errors';
import type { LogStream } from '../logs/cri-log';
import { closeProcessStdin } from './stdin';

export interface AttachOptions {
  /** The client's input, written to the container's stdin. */
  stdin?: Readable;
  /** Container output; return a promise to hold the next chunk until it settles (backpressure). */
  onOutput(stream: LogStream, chunk: Buffer): void | Promise<unknown>;
  /** Detaches (the container runs on). */
  signal: AbortSignal;
}

export interface Attachment {
  containerId: string;
  /** The container was created with a TTY (all its output is on stdout). */
  tty: boolean;
  /** Tasks.ResizePty of the container's init process. */
  resize(width: number, height: number): Promise<void>;
  /** Settles when the container's output ended ('exited') or the caller detached ('detached'). */
  done: Promise<'exited' | 'detached'>;
}

/** The full id of running container `containerId` (an id or unique prefix): NOT_FOUND, FAILED_PRECONDITION. */
export async function runningContainerId(ctx: CrispContext, containerId: string): Promise<string> {
  if (containerId === '') throw invalidArgument('container_id is required');
  await ctx.containers.ready();
  const rec = ctx.containers.store.mustFind(containerId);
  const state = ctx.containers.stateOf(rec.id).state;
  if (state !== cri.ContainerState.CONTAINER_RUNNING) {
    throw failedPrecondition(`container is not running: ${rec.id} is ${cri.ContainerState[state] ?? state}`);
  }
  return rec.id;
}

/** Checks an Attach request against its container: running, and created with stdin if stdin is asked for. */
export async function checkAttachable(ctx: CrispContext, containerId: string, wantStdin: boolean): Promise<string> {
  const id = await runningContainerId(ctx, containerId);
  if (wantStdin && !ctx.containers.store.mustFind(id).config.stdin) {
    throw invalidArgument(`container ${id} was created without stdin: cannot attach to its stdin`);
  }
  return id;
}

export async function attachToContainer(ctx: CrispContext, containerId: string, opts: AttachOptions): Promise<Attachment> {
  opts.signal.throwIfAborted();
  const id = await runningContainerId(ctx, containerId);
  const rec = ctx.containers.store.mustFind(id);
  const io = ctx.containers.attachIo(id);
  if (!io) throw failedPrecondition(`container ${id} is not running: its output is not available`);
  const log = ctx.logger.child({ containerId: id, component: 'attach' });

  let settle: (how: 'exited' | 'detached') => void = () => undefined;
  const done = new Promise<'exited' | 'detached'>((resolve) => (settle = resolve));
  const unsubscribe = io.logger.onOutput({
    data: (stream, chunk) => opts.onOutput(stream, chunk),
    dropped: (bytes) => log.warn({ bytes }, 'attached client too slow: container output dropped for it'),
    end: () => settle('exited'),
  });

  const input = opts.stdin;
  const target = io.stdin;
  let detachInput = (): void => undefined;
  if (input) {
    if (!target || target.stream.writableEnded || target.stream.destroyed) {
      // No stdin (any more: an earlier stdin_once client closed it): the input goes nowhere.
      log.debug('the container has no open stdin: attached input discarded');
      input.resume();
    } else {
      const onData = (chunk: Buffer): void => {
        if (target.stream.writableEnded || target.stream.destroyed) return;
        if (!target.stream.write(chunk)) {
          input.pause();
          target.stream.once('drain', () => input.resume());
        }
      };
      const closeOnce = (why: string): void => {
        if (!rec.config.stdinOnce || target.stream.writableEnded) return;
        log.debug({ why }, 'closing the container stdin (stdin_once)');
        closeProcessStdin(ctx.containerd, target, id, '', log);
      };
      const onEnd = (): void => closeOnce('the attached client closed stdin');
      input.on('data', onData);
      input.once('end', onEnd);
      detachInput = () => {
        input.off('data', onData);
        input.off('end', onEnd);
        closeOnce('the attached client detached');
      };
    }
  }

  const onAbort = (): void => settle('detached');
  opts.signal.addEventListener('abort', onAbort, { once: true });
  void done.then(() => {
    opts.signal.removeEventListener('abort', onAbort);
    unsubscribe();
    detachInput();
  });

  return {
    containerId: id,
    tty: rec.config.tty,
    resize: async (width, height) => {
      await ctx.containerd.tasks.resizePty({ containerId: id, execId: '', width, height });
    },
    done,
  };
}
