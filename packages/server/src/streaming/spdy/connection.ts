// A SPDY/3.1 session over a byte stream (the socket of an HTTP `Upgrade: SPDY/3.1`).
//
// Roles: the client (kubelet, or the apiserver behind it, speaking through Go's spdystream) opens
// streams with odd ids; the server's own streams, if it ever opened any, are even. A server
// learns of each new stream through 'stream' with the stream's SYN_STREAM headers; it accepts it
// with stream.reply() (SYN_REPLY: done automatically after the listeners if they did not) or
// refuses it with stream.reset(). Ping ids follow the same parity: the peer's are echoed.
//
// Flow control (SPDY/3.1 §2.6.8): DATA is limited by a window per stream (initially 64 KiB or the
// peer's SETTINGS_INITIAL_WINDOW_SIZE) and, in 3.1, one per session (64 KiB), both grown by the
// receiver's WINDOW_UPDATE frames.
// - Receiving: this side credits data back with WINDOW_UPDATE only once the application has read
//   it, so a slow reader stops a compliant sender at the window.
// - Sending: writes stop when a window is used up and resume on WINDOW_UPDATE or SETTINGS.
// - Interop: spdystream, which every Kubernetes client and kubelet use, implements no flow
//   control at all: it never sends WINDOW_UPDATE or SETTINGS, ignores those it receives, and
//   sends each Write() as one DATA frame whatever the window. Enforcing the peer's window from the
//   start would stall every stream after 64 KiB (a `kubectl cp` or a long log would hang). So in
//   the default 'auto' mode the peer's stream windows are enforced once it has shown that it does
//   stream flow control (a WINDOW_UPDATE on a stream, or SETTINGS_INITIAL_WINDOW_SIZE), and the
//   session window once it has sent a WINDOW_UPDATE for stream 0; the window arithmetic runs from
//   the start, so from then on it is exact. A peer that overruns this side's windows is tolerated
//   in 'auto' mode; memory stays bounded because the socket is paused (TCP backpressure, what
//   spdystream itself relies on) while any stream holds more unread data than its window. The
//   'strict' mode follows the spec: windows enforced from the start, overruns are errors.
//
// Shutdown: close() sends GOAWAY and ends the socket once the open streams are done; a GOAWAY
// from the peer likewise stops new streams and closes once the open ones are done. A session
// error (a malformed frame...) sends GOAWAY(PROTOCOL_ERROR) and closes at once. When the socket
// ends or fails, every unfinished stream is destroyed with SpdyConnectionClosedError.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  DEFAULT_WINDOW_SIZE,
  GoAwayStatus,
  MAX_STREAM_ID,
  MAX_WINDOW_SIZE,
  RstStatus,
  SettingsId,
} from './constants';
import { SpdyConnectionClosedError, SpdyError, SpdyProtocolError } from './errors';
import { encodeDataFrameHead, encodeFrame } from './frames';
import type {
  DataFrame,
  Frame,
  FrameInit,
  GoAwayFrame,
  HeadersFrame,
  PingFrame,
  SettingsEntry,
  SettingsFrame,
  SynReplyFrame,
  SynStreamFrame,
  WindowUpdateFrame,
} from './frames';
import { HeaderCompressor, HeaderDecompressor, decodeHeaderBlock, encodeHeaderBlock } from './headers';
import type { SpdyHeaders, SpdyHeadersInit } from './headers';
import { FrameParser } from './parser';
import { SpdyStream } from './stream';
import type { StreamOwner } from './stream';

export type FlowControlMode = 'auto' | 'strict';

export interface SpdyConnectionOptions {
  /**
   * Receive window this side gives each stream. Default 64 KiB (the protocol default); another
   * value is announced with a SETTINGS frame when the connection starts.
   */
  initialWindowSize?: number;
  /**
   * Receive window this side gives the whole session. Default (and minimum) 64 KiB, the SPDY/3.1
   * initial value; more is granted with a WINDOW_UPDATE on stream 0 when the connection starts.
   */
  sessionWindowSize?: number;
  /** See the file comment. Default 'auto'. */
  flowControl?: FlowControlMode;
  /** Largest DATA frame this side sends. Default 32 KiB. */
  maxSendFrameSize?: number;
  /** Largest DATA frame accepted. Default 2^24-1 (see FrameParserOptions). */
  maxDataFrameSize?: number;
  /** Largest control frame accepted. Default 1 MiB. */
  maxControlFrameSize?: number;
  /** Largest decompressed header block accepted. Default 256 KiB. */
  maxHeaderBlockSize?: number;
  /** Streams the peer may have open at once; more are refused (REFUSED_STREAM). Default 1000. */
  maxConcurrentStreams?: number;
  /** Reply (empty SYN_REPLY) to new streams the 'stream' listeners neither replied to nor reset. Default true. */
  autoReply?: boolean;
  /** Disable Nagle on the socket when it supports it (interactive exec). Default true. */
  noDelay?: boolean;
}

export interface OpenStreamOptions {
  /** Send nothing but the SYN_STREAM (FIN on it). */
  fin?: boolean;
  /** 0 (highest, the default, as spdystream sends) to 7. */
  priority?: number;
}

const DEFAULT_MAX_SEND_FRAME_SIZE = 32 * 1024;
const DEFAULT_MAX_CONCURRENT_STREAMS = 1000;
/** How long an ending socket may take to flush before it is destroyed. */
const END_TIMEOUT_MS = 5_000;
const noop = (): void => {};

interface PendingPing {
  started: bigint;
  resolve: (ms: number) => void;
  reject: (err: Error) => void;
}

export class SpdyConnection extends EventEmitter implements StreamOwner {
  readonly isServer: boolean;
  private readonly socket: Duplex;
  private readonly parser: FrameParser;
  private readonly compressor = new HeaderCompressor();
  /** Streams not yet closed at the protocol level (FIN both ways, or reset). */
  private readonly streams = new Map<number, SpdyStream>();
  private readonly pings = new Map<number, PendingPing>();
  private readonly drainWaiters: (() => void)[] = [];
  /** Streams holding more unread data than their window: input is paused while there are any. */
  private readonly overfull = new Set<SpdyStream>();

  private readonly strict: boolean;
  private readonly localInitialWindow: number;
  private readonly maxSendFrameSize: number;
  private readonly maxConcurrentStreams: number;
  private readonly autoReply: boolean;

  private nextStreamId: number;
  private nextPingId: number;
  /** Highest stream id the peer opened. */
  private lastPeerStreamId = 0;
  private peerInitialWindow = DEFAULT_WINDOW_SIZE;
  private peerMaxConcurrentStreams = Infinity;
  private sessionSendWindow = DEFAULT_WINDOW_SIZE;
  private sessionRecvWindow = DEFAULT_WINDOW_SIZE;
  private readonly sessionWindowSize: number;
  private sessionUnannounced = 0;
  private enforceStreamWindows: boolean;
  private enforceSessionWindow: boolean;

  private goAwaySent = false;
  private goAwayReceived = false;
  private closed = false;
  private closeEmitted = false;
  private inputPaused = false;
  private reading = false;

  constructor(socket: Duplex, role: 'server' | 'client', head?: Buffer, options: SpdyConnectionOptions = {}) {
    super();
    this.socket = socket;
    this.isServer = role === 'server';
    this.nextStreamId = this.isServer ? 2 : 1;
    this.nextPingId = this.isServer ? 2 : 1;
    this.strict = options.flowControl === 'strict';
    this.enforceStreamWindows = this.strict;
    this.enforceSessionWindow = this.strict;
    this.localInitialWindow = windowOption('initialWindowSize', options.initialWindowSize);
    // The session window starts at 64 KiB and can only grow (SPDY/3.1 has no SETTINGS for it).
    this.sessionWindowSize = Math.max(DEFAULT_WINDOW_SIZE, windowOption('sessionWindowSize', options.sessionWindowSize));
    this.maxSendFrameSize = Math.max(1, options.maxSendFrameSize ?? DEFAULT_MAX_SEND_FRAME_SIZE);
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS;
    this.autoReply = options.autoReply ?? true;
    this.parser = new FrameParser({
      maxDataFrameSize: options.maxDataFrameSize,
      maxControlFrameSize: options.maxControlFrameSize,
      decompressor: new HeaderDecompressor(options.maxHeaderBlockSize),
    });
    // Session errors come from the peer: an 'error' nobody listens to must not end the process.
    this.on('error', noop);

    const net = socket as Duplex & { setNoDelay?: (noDelay: boolean) => unknown };
    if ((options.noDelay ?? true) && typeof net.setNoDelay === 'function') net.setNoDelay(true);
    socket.on('end', () => this.teardown(null, true));
    socket.on('error', (err: Error) => this.teardown(err, false));
    socket.on('close', () => {
      this.teardown(null, false);
      this.emitClose();
    });
    socket.on('drain', () => this.onDrain());

    if (this.localInitialWindow !== DEFAULT_WINDOW_SIZE) {
      this.writeFrame({
        type: 'SETTINGS',
        clearSettings: false,
        settings: [{ id: SettingsId.INITIAL_WINDOW_SIZE, value: this.localInitialWindow, flags: 0 }],
      });
    }
    if (this.sessionWindowSize > DEFAULT_WINDOW_SIZE) {
      const grant = this.sessionWindowSize - DEFAULT_WINDOW_SIZE;
      this.writeFrame({ type: 'WINDOW_UPDATE', streamId: 0, delta: grant });
      this.sessionRecvWindow += grant;
    }

    // Bytes read past the HTTP upgrade come first. Frames are handled from the next tick on, so
    // that the creator attaches its 'stream' listener first.
    if (head && head.length > 0) this.parser.push(head);
    process.nextTick(() => {
      if (this.closed) return;
      socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
      if (!this.inputPaused) socket.resume(); // in case the socket was left paused
      this.processFrames();
    });
  }

  // ---- public API ---------------------------------------------------------------------------

  /** Streams not yet closed at the protocol level. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** True once the connection is torn down (no frame is sent or handled any more). */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Opens a stream (SYN_STREAM). Data written before the peer's SYN_REPLY waits for it (spdystream
   * drops DATA that arrives before it replied). 'reply' is emitted on the stream with its headers.
   */
  openStream(headers: SpdyHeadersInit, options: OpenStreamOptions = {}): SpdyStream {
    if (this.closed) throw new SpdyConnectionClosedError();
    if (this.goAwaySent || this.goAwayReceived) throw new SpdyError('SPDY connection is going away: no new streams');
    const own = [...this.streams.values()].filter((s) => s.initiatedLocally).length;
    if (own >= this.peerMaxConcurrentStreams) {
      throw new SpdyError(`the peer allows ${this.peerMaxConcurrentStreams} concurrent streams`);
    }
    const id = this.nextStreamId;
    if (id > MAX_STREAM_ID) throw new SpdyError('SPDY stream ids exhausted on this connection');
    const priority = options.priority ?? 0;
    const fin = options.fin === true;
    const block = encodeHeaderBlock(headers); // validates before anything is sent
    this.writeFrame({
      type: 'SYN_STREAM',
      streamId: id,
      associatedStreamId: 0,
      priority,
      slot: 0,
      fin,
      unidirectional: false,
      headers,
    });
    this.nextStreamId += 2;
    const stream = this.newStream(id, decodeHeaderBlock(block), priority, true, fin);
    return stream;
  }

  /** Sends a PING; resolves with the round trip in milliseconds when the peer echoes it. */
  ping(): Promise<number> {
    if (this.closed) return Promise.reject(new SpdyConnectionClosedError());
    const id = this.nextPingId;
    this.nextPingId = this.nextPingId + 2 > 0xffff_ffff ? (this.isServer ? 2 : 1) : this.nextPingId + 2;
    return new Promise<number>((resolve, reject) => {
      this.pings.set(id, { started: process.hrtime.bigint(), resolve, reject });
      this.writeFrame({ type: 'PING', id });
    });
  }

  /**
   * Graceful shutdown: sends GOAWAY (no new streams are accepted, refused with REFUSED_STREAM) and
   * ends the socket once the open streams are done. With `timeoutMs`, streams still open by then
   * are destroyed with the connection (a peer may never finish a stream it does not use, such as
   * an idle resize stream).
   */
  close(timeoutMs?: number): void {
    if (this.closed) return;
    this.sendGoAway(GoAwayStatus.OK);
    this.checkIdle();
    if (timeoutMs !== undefined && !this.closed) {
      const timer = setTimeout(() => this.teardown(null, true), timeoutMs);
      timer.unref();
      this.socket.once('close', () => clearTimeout(timer));
    }
  }

  /** Abrupt shutdown: destroys the open streams (with `error`, if given) and the socket. */
  destroy(error?: Error): void {
    this.teardown(error ?? null, false);
  }

  // ---- input ----------------------------------------------------------------------------------

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return;
    this.parser.push(chunk);
    this.processFrames();
  }

  private processFrames(): void {
    if (this.reading) return; // re-entered from a listener: the outer loop carries on
    this.reading = true;
    try {
      while (!this.closed) {
        let frame: Frame | null;
        try {
          frame = this.parser.next();
          if (!frame) return;
          this.handleFrame(frame);
        } catch (err) {
          if (!(err instanceof SpdyProtocolError)) throw err;
          this.sessionError(err);
          return;
        }
      }
    } finally {
      this.reading = false;
    }
  }

  private handleFrame(frame: Frame): void {
    switch (frame.type) {
      case 'SYN_STREAM':
        return this.onSynStream(frame);
      case 'SYN_REPLY':
        return this.onSynReply(frame);
      case 'HEADERS':
        return this.onHeaders(frame);
      case 'DATA':
        return this.onDataFrame(frame);
      case 'RST_STREAM':
        this.streams.get(frame.streamId)?.onRemoteReset(frame.status);
        return;
      case 'SETTINGS':
        return this.onSettings(frame);
      case 'PING':
        return this.onPing(frame);
      case 'GOAWAY':
        return this.onGoAway(frame);
      case 'WINDOW_UPDATE':
        return this.onWindowUpdate(frame);
      case 'UNKNOWN':
        return; // §2.2.1: unknown control frames are ignored
    }
  }

  private isPeerStreamId(id: number): boolean {
    return id % 2 === (this.isServer ? 1 : 0);
  }

  private onSynStream(f: SynStreamFrame): void {
    if (!this.isPeerStreamId(f.streamId)) {
      throw new SpdyProtocolError(`SYN_STREAM ${f.streamId}: the peer's stream ids are ${this.isServer ? 'odd' : 'even'}`);
    }
    if (f.streamId < this.lastPeerStreamId) {
      throw new SpdyProtocolError(`SYN_STREAM ${f.streamId} after ${this.lastPeerStreamId}: stream ids must increase`);
    }
    if (f.streamId === this.lastPeerStreamId) {
      this.sendRst(f.streamId, RstStatus.PROTOCOL_ERROR); // a second SYN_STREAM for one stream (§2.3.2)
      return;
    }
    this.lastPeerStreamId = f.streamId;
    if (this.goAwaySent) {
      // The spec says to ignore it; refusing lets spdystream's CreateStream fail at once instead
      // of waiting for a SYN_REPLY until its timeout.
      this.sendRst(f.streamId, RstStatus.REFUSED_STREAM);
      return;
    }
    if (f.headerError !== undefined) {
      this.sendRst(f.streamId, RstStatus.PROTOCOL_ERROR);
      return;
    }
    const open = [...this.streams.values()].filter((s) => !s.initiatedLocally).length;
    if (open >= this.maxConcurrentStreams) {
      this.sendRst(f.streamId, RstStatus.REFUSED_STREAM);
      return;
    }
    const stream = this.newStream(f.streamId, f.headers, f.priority, false, f.unidirectional);
    if (f.fin) {
      stream.onData(Buffer.alloc(0), true);
      this.maybeClosed(stream);
    }
    this.emit('stream', stream);
    if (this.autoReply && !f.unidirectional && !stream.replied && !stream.destroyed && !this.closed) {
      this.sendReply(stream, {}, false);
    }
  }

  private newStream(id: number, headers: SpdyHeaders, priority: number, local: boolean, localFin: boolean): SpdyStream {
    const stream = new SpdyStream(this, {
      id,
      headers,
      priority,
      initiatedLocally: local,
      sendWindow: this.peerInitialWindow,
      recvWindow: this.localInitialWindow,
      localFin,
    });
    this.streams.set(id, stream);
    return stream;
  }

  private onSynReply(f: SynReplyFrame): void {
    const stream = this.streams.get(f.streamId);
    if (!stream) return; // reset meanwhile
    if (!stream.initiatedLocally) return stream.fail(RstStatus.PROTOCOL_ERROR);
    if (stream.replied) return stream.fail(RstStatus.STREAM_IN_USE);
    if (f.headerError !== undefined) return stream.fail(RstStatus.PROTOCOL_ERROR);
    stream.onReply(f.headers);
    if (f.fin) this.remoteFinish(stream);
  }

  private onHeaders(f: HeadersFrame): void {
    const stream = this.streams.get(f.streamId);
    if (!stream) return;
    if (f.headerError !== undefined) return stream.fail(RstStatus.PROTOCOL_ERROR);
    stream.emit('headers', f.headers);
    if (f.fin) this.remoteFinish(stream);
  }

  private remoteFinish(stream: SpdyStream): void {
    if (stream.destroyed) return;
    stream.onData(Buffer.alloc(0), true);
    this.maybeClosed(stream);
  }

  private onDataFrame(f: DataFrame): void {
    const len = f.data.length;
    this.sessionRecvWindow -= len;
    if (this.sessionRecvWindow < 0 && this.strict) {
      throw new SpdyProtocolError('the peer exceeded the session flow-control window');
    }
    const stream = this.streams.get(f.streamId);
    if (!stream) {
      // Data in flight for a stream reset meanwhile is dropped; data for a stream that never
      // existed is an error (§2.6.1). Either way its session credit is given back.
      this.creditSession(len);
      if (this.isIdleStreamId(f.streamId)) this.sendRst(f.streamId, RstStatus.INVALID_STREAM);
      return;
    }
    if (stream.remoteFin) {
      this.creditSession(len);
      return stream.fail(RstStatus.STREAM_ALREADY_CLOSED);
    }
    stream.recvWindow -= len;
    if (stream.recvWindow < 0 && this.strict) {
      this.creditSession(len);
      return stream.fail(RstStatus.FLOW_CONTROL_ERROR);
    }
    stream.onData(f.data, f.fin); // may run the application's 'data' listeners at once
    if (!stream.destroyed) {
      this.streamConsumed(stream);
      if (stream.readableLength > this.bufferLimit(stream)) {
        this.overfull.add(stream);
        this.pauseInput();
      }
    }
    if (f.fin) this.maybeClosed(stream);
  }

  /** An id the peer could not have used yet. */
  private isIdleStreamId(id: number): boolean {
    return this.isPeerStreamId(id) ? id > this.lastPeerStreamId : id >= this.nextStreamId;
  }

  private onSettings(f: SettingsFrame): void {
    const seen = new Set<number>();
    for (const s of f.settings) {
      if (seen.has(s.id)) continue; // §2.6.4: only the first value of an id counts
      seen.add(s.id);
      this.applySetting(s);
    }
    this.emit('settings', f.settings);
  }

  private applySetting(s: SettingsEntry): void {
    if (s.id === SettingsId.MAX_CONCURRENT_STREAMS) {
      this.peerMaxConcurrentStreams = s.value;
    } else if (s.id === SettingsId.INITIAL_WINDOW_SIZE) {
      if (s.value > MAX_WINDOW_SIZE) {
        if (this.strict) throw new SpdyProtocolError(`SETTINGS_INITIAL_WINDOW_SIZE ${s.value} exceeds 2^31-1`);
        return;
      }
      // Applies to the open streams too, by the difference (§2.6.8); windows may go negative.
      const delta = s.value - this.peerInitialWindow;
      this.peerInitialWindow = s.value;
      this.enforceStreamWindows = true;
      for (const stream of this.streams.values()) stream.sendWindow += delta;
      if (delta > 0) this.flushAll();
    }
  }

  private onPing(f: PingFrame): void {
    const ownParity = this.isServer ? 0 : 1;
    if (f.id % 2 !== ownParity) {
      this.writeFrame({ type: 'PING', id: f.id }); // the peer's ping: echo it at once
      return;
    }
    const pending = this.pings.get(f.id);
    if (!pending) return;
    this.pings.delete(f.id);
    pending.resolve(Number(process.hrtime.bigint() - pending.started) / 1e6);
  }

  private onGoAway(f: GoAwayFrame): void {
    this.goAwayReceived = true;
    // Streams this side opened after the last one the peer processed were never seen by it.
    for (const stream of [...this.streams.values()]) {
      if (stream.initiatedLocally && stream.id > f.lastGoodStreamId) {
        stream.destroy(new SpdyConnectionClosedError(`SPDY stream ${stream.id} refused by the peer's GOAWAY`));
      }
    }
    this.emit('goaway', f.lastGoodStreamId, f.status);
    this.checkIdle();
  }

  private onWindowUpdate(f: WindowUpdateFrame): void {
    if (f.delta === 0) {
      // §2.6.8: the delta is 1..2^31-1.
      if (!this.strict) return;
      if (f.streamId === 0) throw new SpdyProtocolError('WINDOW_UPDATE with a delta of 0');
      this.streams.get(f.streamId)?.fail(RstStatus.PROTOCOL_ERROR);
      return;
    }
    if (f.streamId === 0) {
      this.enforceSessionWindow = true;
      this.sessionSendWindow += f.delta;
      if (this.sessionSendWindow > MAX_WINDOW_SIZE) {
        if (this.strict) throw new SpdyProtocolError('session flow-control window above 2^31-1');
        this.sessionSendWindow = MAX_WINDOW_SIZE;
      }
      this.flushAll();
      return;
    }
    this.enforceStreamWindows = true;
    const stream = this.streams.get(f.streamId);
    if (!stream) return;
    stream.sendWindow += f.delta;
    if (stream.sendWindow > MAX_WINDOW_SIZE) {
      if (this.strict) return stream.fail(RstStatus.FLOW_CONTROL_ERROR);
      stream.sendWindow = MAX_WINDOW_SIZE;
    }
    stream.flush();
  }

  private flushAll(): void {
    for (const stream of [...this.streams.values()]) stream.flush();
  }

  // ---- StreamOwner (called by SpdyStream) ------------------------------------------------------

  /** @internal */
  sendAllowance(stream: SpdyStream, wanted: number): number {
    if (this.closed || !this.canSendFin(stream)) return 0;
    let n = Math.min(wanted, this.maxSendFrameSize);
    if (this.enforceStreamWindows) n = Math.min(n, stream.sendWindow);
    if (this.enforceSessionWindow) n = Math.min(n, this.sessionSendWindow);
    return n;
  }

  /** @internal */
  canSendFin(stream: SpdyStream): boolean {
    return !stream.initiatedLocally || stream.replied;
  }

  /** @internal */
  sendData(stream: SpdyStream, data: Buffer, fin: boolean): void {
    if (this.closed) return;
    const head = encodeDataFrameHead(stream.id, fin, data.length);
    if (data.length === 0) {
      this.socket.write(head);
    } else {
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(data);
      this.socket.uncork();
    }
    stream.sendWindow -= data.length;
    this.sessionSendWindow -= data.length;
    if (fin) {
      stream.localFin = true;
      this.maybeClosed(stream);
    }
  }

  /** @internal */
  sendReply(stream: SpdyStream, headers: SpdyHeadersInit, fin: boolean): void {
    stream.replied = true;
    this.writeFrame({ type: 'SYN_REPLY', streamId: stream.id, fin, headers });
    if (fin) {
      stream.localFin = true;
      this.maybeClosed(stream);
    }
  }

  /** @internal */
  sendHeaders(stream: SpdyStream, headers: SpdyHeadersInit, fin: boolean): void {
    this.writeFrame({ type: 'HEADERS', streamId: stream.id, fin, headers });
    if (fin) {
      stream.localFin = true;
      this.maybeClosed(stream);
    }
  }

  /** @internal */
  sendReset(stream: SpdyStream, status: number): void {
    if (this.streams.get(stream.id) !== stream) return; // already closed or reset
    stream.resetStatus = status;
    this.streams.delete(stream.id);
    this.sendRst(stream.id, status);
    this.checkIdle();
  }

  /** @internal */
  afterDrain(cb: () => void): void {
    if (this.closed || !this.socket.writableNeedDrain) cb();
    else this.drainWaiters.push(cb);
  }

  /**
   * Unread bytes a stream may hold before the socket is paused: its window (what a compliant
   * peer can have sent), or the readable buffer size if larger.
   */
  private bufferLimit(stream: SpdyStream): number {
    return Math.max(this.localInitialWindow, stream.readableHighWaterMark);
  }

  /** @internal */
  streamConsumed(stream: SpdyStream): void {
    const total = stream.received - stream.readableLength;
    const delta = total - stream.credited;
    if (delta > 0) {
      stream.credited = total;
      if (!stream.remoteFin && !this.closed) {
        // Announce in batches of half a window: the peer keeps at least half a window of credit
        // while the application keeps up.
        stream.unannounced += delta;
        if (stream.unannounced >= this.localInitialWindow / 2) {
          this.writeFrame({ type: 'WINDOW_UPDATE', streamId: stream.id, delta: stream.unannounced });
          stream.recvWindow += stream.unannounced;
          stream.unannounced = 0;
        }
      }
      this.creditSession(delta);
    }
    if (this.overfull.has(stream) && stream.readableLength <= this.bufferLimit(stream)) {
      this.overfull.delete(stream);
      this.resumeInput();
    }
  }

  /** @internal */
  streamDestroyed(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) {
      // Destroyed while open: tell the peer (what spdystream's Reset() does too).
      this.streams.delete(stream.id);
      if (stream.resetStatus === null && !this.closed) {
        stream.resetStatus = RstStatus.CANCEL;
        this.sendRst(stream.id, RstStatus.CANCEL);
      }
    }
    // Data that will never be read still frees session credit.
    const unread = stream.received - stream.credited;
    stream.credited = stream.received;
    if (unread > 0) this.creditSession(unread);
    if (this.overfull.delete(stream)) this.resumeInput();
    this.checkIdle();
  }

  // ---- output and lifecycle ---------------------------------------------------------------------

  private creditSession(n: number): void {
    if (n <= 0 || this.closed) return;
    this.sessionUnannounced += n;
    if (this.sessionUnannounced >= this.sessionWindowSize / 2) {
      this.writeFrame({ type: 'WINDOW_UPDATE', streamId: 0, delta: this.sessionUnannounced });
      this.sessionRecvWindow += this.sessionUnannounced;
      this.sessionUnannounced = 0;
    }
  }

  private writeFrame(frame: FrameInit): void {
    if (this.closed) return;
    this.socket.write(encodeFrame(frame, this.compressor));
  }

  private sendRst(streamId: number, status: number): void {
    this.writeFrame({ type: 'RST_STREAM', streamId, status });
  }

  private sendGoAway(status: number): void {
    if (this.goAwaySent && status === GoAwayStatus.OK) return;
    this.goAwaySent = true;
    this.writeFrame({ type: 'GOAWAY', lastGoodStreamId: this.lastPeerStreamId, status });
  }

  private maybeClosed(stream: SpdyStream): void {
    if (stream.localFin && stream.remoteFin && this.streams.get(stream.id) === stream) {
      this.streams.delete(stream.id);
      this.checkIdle();
    }
  }

  /** After a GOAWAY either way, the connection ends with its last stream. */
  private checkIdle(): void {
    if (!this.closed && (this.goAwaySent || this.goAwayReceived) && this.streams.size === 0) {
      this.teardown(null, true);
    }
  }

  private pauseInput(): void {
    if (this.inputPaused) return;
    this.inputPaused = true;
    this.socket.pause();
  }

  private resumeInput(): void {
    if (!this.inputPaused || this.overfull.size > 0 || this.closed) return;
    this.inputPaused = false;
    this.socket.resume();
  }

  private onDrain(): void {
    const waiters = this.drainWaiters.splice(0);
    for (const cb of waiters) cb();
  }

  private sessionError(err: SpdyProtocolError): void {
    if (this.closed) return;
    this.sendGoAway(err.goAwayStatus);
    this.teardown(err, true);
  }

  /**
   * Ends the connection: unfinished streams are destroyed, pending pings rejected, and the socket
   * ended (flushing what was written, e.g. a GOAWAY) or destroyed.
   */
  private teardown(error: Error | null, endSocket: boolean): void {
    if (this.closed) return;
    this.closed = true;
    const streamError = new SpdyConnectionClosedError(
      error ? `SPDY connection closed: ${error.message}` : 'SPDY connection closed',
      { cause: error ?? undefined },
    );
    for (const stream of [...this.streams.values()]) stream.destroy(streamError);
    this.streams.clear();
    this.overfull.clear();
    for (const ping of this.pings.values()) ping.reject(streamError);
    this.pings.clear();
    this.onDrain();
    const socket = this.socket;
    if (endSocket && !socket.destroyed) {
      const timer = setTimeout(() => socket.destroy(), END_TIMEOUT_MS);
      timer.unref();
      socket.end(() => {
        clearTimeout(timer);
        socket.destroy();
      });
      if (this.inputPaused) socket.resume(); // let the peer's FIN (and 'close') through
    } else {
      socket.destroy();
    }
    if (error) this.emit('error', error);
  }

  private emitClose(): void {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close');
  }
}

export interface SpdyConnection {
  /** A stream the peer opened, with its SYN_STREAM headers. */
  on(event: 'stream', listener: (stream: SpdyStream) => void): this;
  /** The peer's GOAWAY: it opens no more streams; the connection closes with its last open stream. */
  on(event: 'goaway', listener: (lastGoodStreamId: number, status: number) => void): this;
  /** The peer's SETTINGS. */
  on(event: 'settings', listener: (settings: SettingsEntry[]) => void): this;
  /** A session error or a socket error (the connection is closing). */
  on(event: 'error', listener: (err: Error) => void): this;
  /** The socket is closed and every stream finished or destroyed. */
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

function windowOption(name: string, value: number | undefined): number {
  const v = value ?? DEFAULT_WINDOW_SIZE;
  if (!Number.isInteger(v) || v < 1 || v > MAX_WINDOW_SIZE) throw new RangeError(`${name} must be 1..2^31-1, got ${v}`);
  return v;
}

/**
 * Starts the server side of SPDY/3.1 on a socket whose HTTP `Upgrade: SPDY/3.1` request was just
 * answered with 101 Switching Protocols. `head` is what the HTTP server read past the request
 * (the 'upgrade' event's third argument): the first frames, if the client sent them already.
 */
export function createSpdyServerConnection(socket: Duplex, head?: Buffer, options?: SpdyConnectionOptions): SpdyConnection {
  return new SpdyConnection(socket, 'server', head, options);
}

/** The client side (to test servers, or to talk to one): this side opens the streams. */
export function createSpdyClientConnection(socket: Duplex, head?: Buffer, options?: SpdyConnectionOptions): SpdyConnection {
  return new SpdyConnection(socket, 'client', head, options);
}
