// One SPDY stream as a Node Duplex: writes become DATA frames (cut to the frame size and the peer's
// flow-control windows), end() sends FIN, the peer's DATA arrives on the readable side and its
// FIN ends it ('end'); either direction can close first (half-close). The protocol work is done
// by the owning SpdyConnection; this class keeps the stream's state and the Duplex plumbing.
import { Duplex } from 'node:stream';
import { RstStatus } from './constants';
import { SpdyError, SpdyStreamResetError } from './errors';
import { headerValue } from './headers';
import type { SpdyHeaders, SpdyHeadersInit } from './headers';

/** What the stream needs from its connection (implemented by SpdyConnection). @internal */
export interface StreamOwner {
  /** Bytes of `wanted` the stream may send now (frame size, windows, awaiting SYN_REPLY): may be 0. */
  sendAllowance(stream: SpdyStream, wanted: number): number;
  /** Whether a FIN may go out now (a stream this side opened waits for its SYN_REPLY). */
  canSendFin(stream: SpdyStream): boolean;
  sendData(stream: SpdyStream, data: Buffer, fin: boolean): void;
  sendReply(stream: SpdyStream, headers: SpdyHeadersInit, fin: boolean): void;
  sendHeaders(stream: SpdyStream, headers: SpdyHeadersInit, fin: boolean): void;
  sendReset(stream: SpdyStream, status: number): void;
  /** Calls cb once the socket has room again (at once if it has). */
  afterDrain(cb: () => void): void;
  /** The application read from the stream: credit the windows back. */
  streamConsumed(stream: SpdyStream): void;
  /** The Duplex is being destroyed. */
  streamDestroyed(stream: SpdyStream): void;
}

export interface SpdyStreamInit {
  id: number;
  headers: SpdyHeaders;
  priority: number;
  initiatedLocally: boolean;
  sendWindow: number;
  recvWindow: number;
  /** This side may not send (a unidirectional stream opened by the peer, or opened with FIN). */
  localFin: boolean;
}

const EMPTY = Buffer.alloc(0);
const noop = (): void => {};

export class SpdyStream extends Duplex {
  readonly id: number;
  /** Headers of the SYN_STREAM that opened the stream (e.g. `streamtype`, `port`, `requestid`). */
  readonly headers: SpdyHeaders;
  /** 0 (highest) to 7. Recorded only: writes are not reordered by priority. */
  readonly priority: number;
  /** This side sent the SYN_STREAM. */
  readonly initiatedLocally: boolean;
  /** Headers of the SYN_REPLY, once one was received (streams this side opened). */
  replyHeaders: SpdyHeaders | null = null;
  /** The RST_STREAM status that ended the stream (sent or received), or null. */
  resetStatus: number | null = null;

  // Protocol state, maintained with the connection. Read-only for users.
  /** SYN_REPLY sent (peer's stream) or received (own stream). */
  replied = false;
  /** FIN sent: this side sends nothing more. */
  localFin: boolean;
  /** FIN received: the peer sends nothing more. */
  remoteFin = false;
  /** Bytes this side may still send (the peer's window for the stream; may go negative). */
  sendWindow: number;
  /** Bytes the peer may still send before this side credits more. */
  recvWindow: number;
  /** Bytes received (pushed to the readable side). */
  received = 0;
  /** Of those, bytes the application has consumed and that were credited back. */
  credited = 0;
  /** Credited bytes not yet announced to the peer in a WINDOW_UPDATE. */
  unannounced = 0;

  private readonly owner: StreamOwner;
  private pendingWrite: { data: Buffer; cb: (err?: Error | null) => void } | null = null;
  private pendingFinal: ((err?: Error | null) => void) | null = null;

  /** @internal Created by SpdyConnection. */
  constructor(owner: StreamOwner, init: SpdyStreamInit) {
    super({ allowHalfOpen: true });
    this.owner = owner;
    this.id = init.id;
    this.headers = init.headers;
    this.priority = init.priority;
    this.initiatedLocally = init.initiatedLocally;
    this.sendWindow = init.sendWindow;
    this.recvWindow = init.recvWindow;
    this.localFin = init.localFin;
    // Streams fail on remote resets and lost connections, which a peer controls: an 'error' with
    // no listener must not take the process down. Listeners still receive every error.
    this.on('error', noop);
    if (this.localFin) this.end();
  }

  /** The first value of a header of the SYN_STREAM (name matched lowercase), e.g. header('streamType'). */
  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  /**
   * Accepts a stream the peer opened: sends SYN_REPLY. With `fin`, this side sends nothing more.
   * The connection sends an empty one itself after the 'stream' listeners ran, if they neither
   * replied nor reset (kubelet's client waits for every reply before opening its next stream).
   */
  reply(headers: SpdyHeadersInit = {}, options: { fin?: boolean } = {}): void {
    if (this.initiatedLocally) throw new SpdyError(`stream ${this.id} was opened by this side: it cannot be replied to`);
    if (this.replied) throw new SpdyError(`stream ${this.id} was already replied to`);
    if (this.destroyed) throw new SpdyError(`stream ${this.id} is destroyed`);
    const fin = options.fin === true && !this.localFin;
    this.owner.sendReply(this, headers, fin);
    if (fin) this.end();
  }

  /** Sends a HEADERS frame (more headers for the stream). With `fin`, this side sends nothing more. */
  sendHeaders(headers: SpdyHeadersInit, options: { fin?: boolean } = {}): void {
    if (this.localFin || this.destroyed) throw new SpdyError(`stream ${this.id} is closed for sending`);
    this.ensureReplied();
    this.owner.sendHeaders(this, headers, options.fin === true);
    if (options.fin) this.end();
  }

  /** Abruptly ends the stream: sends RST_STREAM(status) and destroys it (without an error). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.destroyed) return;
    this.owner.sendReset(this, status);
    this.destroy();
  }

  // ---- Duplex -------------------------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.localFin) {
      cb(new SpdyError(`stream ${this.id} is closed for sending`));
      return;
    }
    this.ensureReplied();
    this.pendingWrite = { data: chunk, cb };
    this.flush();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.localFin) {
      cb();
      return;
    }
    this.ensureReplied();
    this.pendingFinal = cb;
    this.flush();
  }

  override _read(): void {
    this.owner.streamConsumed(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const write = this.pendingWrite;
    const final = this.pendingFinal;
    this.pendingWrite = null;
    this.pendingFinal = null;
    this.owner.streamDestroyed(this);
    const failure = err ?? new SpdyError(`stream ${this.id} destroyed`, 'ERR_STREAM_DESTROYED');
    write?.cb(failure);
    final?.(failure);
    cb(err);
  }

  // ---- driven by the connection -----------------------------------------------------------

  /** @internal Sends what the windows allow of the pending write, then the pending FIN. */
  flush(): void {
    const write = this.pendingWrite;
    if (write) {
      while (write.data.length > 0) {
        const n = this.owner.sendAllowance(this, write.data.length);
        if (n <= 0) return; // resumed by a WINDOW_UPDATE, SETTINGS or SYN_REPLY
        const part = write.data.subarray(0, n);
        write.data = write.data.subarray(n);
        this.owner.sendData(this, part, false);
      }
      this.pendingWrite = null;
      this.owner.afterDrain(() => write.cb());
    }
    const final = this.pendingFinal;
    if (final && this.owner.canSendFin(this)) {
      this.pendingFinal = null;
      this.owner.sendData(this, EMPTY, true);
      final();
    }
  }

  /** @internal The peer's DATA (or the FIN of a SYN_REPLY or HEADERS). */
  onData(data: Buffer, fin: boolean): void {
    if (data.length > 0) {
      this.received += data.length;
      this.push(data);
    }
    if (fin && !this.remoteFin) {
      this.remoteFin = true;
      this.push(null);
    }
  }

  /** @internal The peer's SYN_REPLY. */
  onReply(headers: SpdyHeaders): void {
    this.replied = true;
    this.replyHeaders = headers;
    this.emit('reply', headers);
    this.flush();
  }

  /** @internal The peer reset the stream. */
  onRemoteReset(status: number): void {
    this.resetStatus = status;
    this.destroy(new SpdyStreamResetError(this.id, status, true));
  }

  /** @internal This side resets the stream for a fault of the peer's. */
  fail(status: number): void {
    if (this.destroyed) return;
    this.owner.sendReset(this, status);
    this.destroy(new SpdyStreamResetError(this.id, status, false));
  }

  private ensureReplied(): void {
    if (!this.initiatedLocally && !this.replied) this.owner.sendReply(this, {}, false);
  }
}

export interface SpdyStream {
  /** SYN_REPLY received (streams this side opened). */
  on(event: 'reply', listener: (headers: SpdyHeaders) => void): this;
  /** A HEADERS frame. */
  on(event: 'headers', listener: (headers: SpdyHeaders) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'drain', listener: () => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'finish', listener: () => void): this;
  on(event: 'pause', listener: () => void): this;
  on(event: 'pipe', listener: (src: NodeJS.ReadableStream) => void): this;
  on(event: 'readable', listener: () => void): this;
  on(event: 'resume', listener: () => void): this;
  on(event: 'unpipe', listener: (src: NodeJS.ReadableStream) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}
