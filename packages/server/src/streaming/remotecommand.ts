// What an exec or attach session sees of its client, whichever the transport (SPDY streams or
// WebSocket channels): stdin as a Readable, output sinks, terminal sizes, the end of the client,
// and a way to report the outcome and close.
import type { Readable } from 'node:stream';
import type { RemoteCommandProtocol, StatusDocument, TerminalSize } from './protocol';

/** Which streams the session has (from the validated CRI request). */
export interface StreamsWanted {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface OutputSink {
  /**
   * Queues `chunk` for the client. Returns a promise when the transport's buffer is over its high
   * water mark (resolved once it drained); callers that can wait for it should.
   */
  write(chunk: Buffer): Promise<void> | undefined;
}

export interface RemoteCommandStreams {
  readonly protocol: RemoteCommandProtocol;
  /** The client's input; ends when the client half-closes it (SPDY FIN, WebSocket v5 close). */
  readonly stdin?: Readable;
  readonly stdout?: OutputSink;
  readonly stderr?: OutputSink;
  /** Aborted when the client went away (connection closed or broken) before finish(). */
  readonly clientGone: AbortSignal;
  /** Terminal sizes from the client, in order (only with a resize stream). */
  onResize(listener: (size: TerminalSize) => void): void;
  /** Ends the output streams, sends `status` on the error stream and closes the connection. Idempotent. */
  finish(status: StatusDocument): void;
  /** Drops the connection (crisp's shutdown). */
  destroy(): void;
}

/** Bytes buffered for a client before writers are asked to wait. */
export const OUTPUT_HIGH_WATER_MARK = 256 * 1024;
/** How long a finished session waits for the client to close its side before the connection is cut. */
export const FINISH_CLOSE_TIMEOUT_MS = 5_000;
/** How long the client has to open the streams the session needs (kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;
