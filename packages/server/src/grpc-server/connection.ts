// The server side of one HTTP/2 connection (RFC 9113) as gRPC uses it: client-initiated streams,
// header blocks through HPACK, flow control both ways, PING, RST_STREAM and GOAWAY. Everything a tick
// produces leaves in one socket write, so a unary answer (HEADERS, DATA, trailers) is one syscall.
import type { Socket } from 'node:net';
import { HpackDecoder, HpackError } from './hpack';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  Frame,
  FRAME_HEADER_BYTES,
  FrameReader,
  FrameType,
  frameHeader,
  goawayFrame,
  headersFrames,
  Http2ProtocolError,
  MAX_WINDOW,
  pingAckFrame,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  unpad,
  windowUpdateFrame,
} from './frames';

/** What crisp lets each stream send before a WINDOW_UPDATE: requests are small, this is never in the way. */
const LOCAL_STREAM_WINDOW = 1 << 20;
/** The connection's receive window. */
const LOCAL_CONNECTION_WINDOW = 16 << 20;
/** Largest header list accepted (and advertised), bytes as HPACK counts them. */
export const MAX_HEADER_LIST_BYTES = 1 << 20;
/** Stop framing DATA while the socket holds this much unsent; resume on 'drain'. */
const SOCKET_HIGH_WATER = 256 * 1024;
/** A stream whose unsent DATA falls below this tells its writer to go on. */
const STREAM_LOW_WATER = 64 * 1024;
/** Writes up to this size are joined into one buffer; larger ones go out as one writev. */
const CONCAT_LIMIT = 16 * 1024;
/**
 * Stop reading the client while the socket holds this much unsent: a client that sends PINGs, SETTINGS
 * or requests but never reads would otherwise grow the answers in memory without bound.
 */
const READ_PAUSE_BYTES = 1 << 20;
/** Streams a client may have open at once (advertised); more are refused with REFUSED_STREAM. */
export const MAX_CONCURRENT_STREAMS = 1000;
/** CONTINUATION frames allowed in one header block: enough for MAX_HEADER_LIST_BYTES in 4 KiB frames. */
const MAX_CONTINUATION_FRAMES = MAX_HEADER_LIST_BYTES / 4096;

export interface StreamEvents {
  /** A DATA payload from the client (padding removed). */
  onData?(chunk: Buffer): void;
  /** The client half-closed the stream: the request is complete. */
  onEnd?(): void;
  /** The stream is gone before it was answered: client reset, connection lost, or server cut off. */
  onAbort?(reason: string): void;
  /** Unsent DATA went below the low-water mark. */
  onDrain?(): void;
}

export class ServerStream {
  events: StreamEvents = {};
  /** Request headers as [name, value, name, value, ...]. */
  headers: string[] = [];
  remoteClosed = false;
  localClosed = false;
  sendWindow: number;
  /** Unsent DATA bytes, in order; framed as the windows allow. */
  readonly queue: Buffer[] = [];
  queuedBytes = 0;
  /** Trailers to send once the queue is empty (they end the stream). */
  pendingTrailers: Buffer | undefined;
  /** Bytes received and not yet acknowledged with a WINDOW_UPDATE. */
  unacked = 0;

  constructor(readonly id: number, private readonly conn: Http2ServerConnection, initialSendWindow: number) {
    this.sendWindow = initialSendWindow;
  }

  /** Sends the response headers now, ahead of any DATA. */
  respond(block: Uint8Array, endStream = false): void {
    if (this.localClosed) return;
    this.conn.sendHeaders(this, block, endStream);
  }

  /** Queues bytes of the response body. */
  write(data: Uint8Array): void {
    if (this.localClosed || data.length === 0) return;
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    this.conn.scheduleFlush();
  }

  /** Ends the stream with trailers, sent after the queued DATA. */
  end(trailersBlock: Uint8Array): void {
    if (this.localClosed || this.pendingTrailers) return;
    this.pendingTrailers = Buffer.from(trailersBlock.buffer, trailersBlock.byteOffset, trailersBlock.length);
    this.conn.scheduleFlush();
  }
}

export interface ConnectionOptions {
  /** Called for each new stream once its request headers are in. */
  onStream(stream: ServerStream): void;
  /** Called once the socket is gone. */
  onClose?(): void;
  /** Connection-level problems (the client broke the protocol): for the log. */
  onError?(err: Error): void;
}

export class Http2ServerConnection {
  private readonly streams = new Map<number, ServerStream>();
  private readonly reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  private readonly decoder = new HpackDecoder({ maxHeaderListBytes: MAX_HEADER_LIST_BYTES });
  private prefaceBytes = 0;
  private lastStreamId = 0;
  /** A header block being continued: HEADERS without END_HEADERS, then CONTINUATION frames. */
  private continuing: { streamId: number; endStream: boolean; parts: Buffer[]; bytes: number; frames: number } | undefined;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private connSendWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** Set once GOAWAY went out: streams above it are refused. */
  private goawayLastStreamId: number | undefined;
  private closed = false;
  /** Reading is paused until the socket drains (see READ_PAUSE_BYTES). */
  private readPaused = false;

  constructor(private readonly socket: Socket, private readonly options: ConnectionOptions) {
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => {
      if (this.readPaused) {
        this.readPaused = false;
        socket.resume();
      }
      this.scheduleFlush();
    });
    socket.on('error', () => {
      // 'close' follows; nothing to tell the client.
    });
    socket.on('close', () => this.onSocketClose());
    // Server preface: our settings, then open the connection window wide.
    this.push(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
        [Setting.INITIAL_WINDOW_SIZE, LOCAL_STREAM_WINDOW],
        [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
      ]),
    );
    this.push(windowUpdateFrame(0, LOCAL_CONNECTION_WINDOW - DEFAULT_WINDOW));
  }

  /** Graceful end: the client is told which streams were taken; it may not open more. */
  goAway(): void {
    if (this.closed || this.goawayLastStreamId !== undefined) return;
    this.goawayLastStreamId = this.lastStreamId;
    this.push(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    if (this.streams.size === 0) this.endSocket();
  }

  /** Cuts the connection off: open calls are aborted. */
  destroy(): void {
    this.socket.destroy();
    this.onSocketClose();
  }

  // --- output -----------------------------------------------------------------------------------

  private push(buf: Buffer): void {
    this.out.push(buf);
    this.outBytes += buf.length;
    this.scheduleFlush();
  }

  scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    this.frameData();
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    const bytes = this.outBytes;
    this.outBytes = 0;
    if (out.length === 1) {
      this.socket.write(out[0]!);
    } else if (bytes <= CONCAT_LIMIT) {
      this.socket.write(Buffer.concat(out, bytes));
    } else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    // The write that got it this far returned false, so 'drain' follows and resumes reading.
    if (this.socket.writableLength >= READ_PAUSE_BYTES && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  sendHeaders(stream: ServerStream, block: Uint8Array, endStream: boolean): void {
    this.push(headersFrames(stream.id, block, endStream, this.peerMaxFrameSize));
    if (endStream) this.closeLocal(stream);
  }

  /** Moves queued DATA into the output as far as the windows and the socket allow. */
  private frameData(): void {
    for (const stream of this.streamsWithOutput()) {
      while (stream.queuedBytes > 0) {
        // Resumed by 'drain' or by a WINDOW_UPDATE.
        if (this.socket.writableLength + this.outBytes >= SOCKET_HIGH_WATER) break;
        const n = Math.min(stream.queuedBytes, stream.sendWindow, this.connSendWindow, this.peerMaxFrameSize);
        if (n <= 0) break;
        this.out.push(frameHeader(n, FrameType.DATA, 0, stream.id));
        this.outBytes += FRAME_HEADER_BYTES;
        let left = n;
        while (left > 0) {
          const head = stream.queue[0]!;
          if (head.length <= left) {
            stream.queue.shift();
            this.out.push(head);
            left -= head.length;
          } else {
            this.out.push(head.subarray(0, left));
            stream.queue[0] = head.subarray(left);
            left = 0;
          }
        }
        this.outBytes += n;
        stream.queuedBytes -= n;
        stream.sendWindow -= n;
        this.connSendWindow -= n;
        if (stream.queuedBytes < STREAM_LOW_WATER && stream.queuedBytes + n >= STREAM_LOW_WATER) stream.events.onDrain?.();
      }
      if (stream.queuedBytes === 0 && stream.pendingTrailers && !stream.localClosed) {
        // Not push(): this runs inside flush. The block may span CONTINUATION frames, so count what was built.
        const trailers = headersFrames(stream.id, stream.pendingTrailers, true, this.peerMaxFrameSize);
        this.out.push(trailers);
        this.outBytes += trailers.length;
        stream.pendingTrailers = undefined;
        this.closeLocal(stream);
      }
    }
  }

  /** Streams that have DATA or trailers to go: few, so a scan of the open ones is cheap. */
  private *streamsWithOutput(): Iterable<ServerStream> {
    for (const s of this.streams.values()) if (s.queuedBytes > 0 || s.pendingTrailers) yield s;
  }

  private closeLocal(stream: ServerStream): void {
    stream.localClosed = true;
    stream.queue.length = 0;
    stream.queuedBytes = 0;
    // The answer is complete; a client still sending is told to stop (gRPC servers do the same).
    if (!stream.remoteClosed) {
      // outBytes must count it: flush joins small outputs with Buffer.concat(out, outBytes), which truncates.
      const rst = rstStreamFrame(stream.id, ErrorCode.NO_ERROR);
      this.out.push(rst);
      this.outBytes += rst.length;
    }
    this.forget(stream);
  }

  private resetStream(stream: ServerStream, code: ErrorCode): void {
    if (!this.streams.has(stream.id)) return;
    stream.localClosed = true;
    stream.queue.length = 0;
    stream.queuedBytes = 0;
    stream.pendingTrailers = undefined;
    this.push(rstStreamFrame(stream.id, code));
    this.forget(stream);
  }

  private forget(stream: ServerStream): void {
    this.streams.delete(stream.id);
    if (this.streams.size === 0) {
      if (this.goawayLastStreamId !== undefined) this.endSocket();
    }
  }

  private endSocket(): void {
    if (this.closed) return;
    this.flush();
    this.socket.end();
  }

  // --- input ------------------------------------------------------------------------------------

  private onSocketData(chunk: Buffer): void {
    if (this.closed) return;
    try {
      if (this.prefaceBytes < CLIENT_PREFACE.length) {
        chunk = this.readPreface(chunk);
        if (chunk.length === 0) return;
      }
      this.reader.push(chunk, (frame) => this.onFrame(frame));
    } catch (err) {
      this.connectionError(err instanceof Http2ProtocolError ? err : new Http2ProtocolError(ErrorCode.INTERNAL_ERROR, (err as Error).message));
    }
  }

  /** Checks the client preface, which may arrive in pieces; returns what follows it. */
  private readPreface(chunk: Buffer): Buffer {
    const need = CLIENT_PREFACE.length - this.prefaceBytes;
    const part = chunk.subarray(0, need);
    if (!part.equals(CLIENT_PREFACE.subarray(this.prefaceBytes, this.prefaceBytes + part.length))) {
      throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 client preface (is the client speaking gRPC over plaintext HTTP/2?)');
    }
    this.prefaceBytes += part.length;
    return chunk.subarray(need);
  }

  private onFrame(frame: Frame): void {
    if (this.continuing && frame.type !== FrameType.CONTINUATION) {
      throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'header block interrupted by another frame');
    }
    switch (frame.type) {
      case FrameType.DATA:
        return this.onData(frame);
      case FrameType.HEADERS:
        return this.onHeaders(frame);
      case FrameType.CONTINUATION:
        return this.onContinuation(frame);
      case FrameType.RST_STREAM:
        return this.onRstStream(frame);
      case FrameType.SETTINGS:
        return this.onSettings(frame);
      case FrameType.PING:
        return this.onPing(frame);
      case FrameType.GOAWAY:
        return this.onGoaway(frame);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(frame);
      case FrameType.PRIORITY:
        if (frame.streamId === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (frame.payload.length !== 5) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY frame must be 5 bytes');
        return;
      case FrameType.PUSH_PROMISE:
        throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'a client cannot push');
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  private onHeaders(frame: Frame): void {
    const id = frame.streamId;
    if (id === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    const block = unpad(frame, frame.flags & Flag.PRIORITY ? 5 : 0);
    const endStream = (frame.flags & Flag.END_STREAM) !== 0;
    if (frame.flags & Flag.END_HEADERS) {
      this.onHeaderBlock(id, block, endStream);
    } else {
      this.continuing = { streamId: id, endStream, parts: [block], bytes: block.length, frames: 1 };
    }
  }

  private onContinuation(frame: Frame): void {
    const c = this.continuing;
    if (!c || c.streamId !== frame.streamId) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'unexpected CONTINUATION');
    c.parts.push(frame.payload);
    c.bytes += frame.payload.length;
    if (c.bytes > MAX_HEADER_LIST_BYTES) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'header block too large');
    // Empty or tiny CONTINUATIONs would otherwise pile up without reaching the byte limit.
    if (++c.frames > MAX_CONTINUATION_FRAMES) throw new Http2ProtocolError(ErrorCode.ENHANCE_YOUR_CALM, 'header block in too many CONTINUATION frames');
    if (frame.flags & Flag.END_HEADERS) {
      this.continuing = undefined;
      this.onHeaderBlock(c.streamId, Buffer.concat(c.parts, c.bytes), c.endStream);
    }
  }

  private onHeaderBlock(id: number, block: Buffer, endStream: boolean): void {
    let headers: string[];
    try {
      // Decoded even for streams refused below: the HPACK table is the connection's.
      headers = this.decoder.decode(block);
    } catch (err) {
      if (err instanceof HpackError) throw new Http2ProtocolError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const existing = this.streams.get(id);
    if (existing) {
      // Trailers from the client: gRPC clients send none, but they end the request all the same.
      if (!endStream) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'second HEADERS without END_STREAM');
      this.onRemoteEnd(existing);
      return;
    }
    if (id % 2 === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream ${id}: streams are the client's`);
    if (id <= this.lastStreamId) {
      // Trailers of a stream already answered (or reset) whose client is still finishing its side. Without
      // END_STREAM it is a new request on a used id (RFC 9113 §5.1.1): ignoring it would leave that call hanging.
      if (!endStream) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, `HEADERS opening stream ${id}, not above the last stream ${this.lastStreamId}`);
      return;
    }
    this.lastStreamId = id;
    // Over the limit only from a client that opened streams before our SETTINGS arrived, or ignores them.
    if (this.goawayLastStreamId !== undefined || this.streams.size >= MAX_CONCURRENT_STREAMS) {
      this.push(rstStreamFrame(id, ErrorCode.REFUSED_STREAM));
      return;
    }
    const stream = new ServerStream(id, this, this.peerInitialWindow);
    stream.headers = headers;
    // Known before onStream: a stream answered there at once must not be reset, the client is done with it.
    stream.remoteClosed = endStream;
    this.streams.set(id, stream);
    this.options.onStream(stream);
    if (endStream && this.streams.has(id)) stream.events.onEnd?.();
  }

  private onRemoteEnd(stream: ServerStream): void {
    if (stream.remoteClosed) return;
    stream.remoteClosed = true;
    stream.events.onEnd?.();
  }

  private onData(frame: Frame): void {
    const id = frame.streamId;
    if (id === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included.
    const size = frame.payload.length;
    this.connUnacked += size;
    if (this.connUnacked >= LOCAL_CONNECTION_WINDOW / 2) {
      this.push(windowUpdateFrame(0, this.connUnacked));
      this.connUnacked = 0;
    }
    const stream = this.streams.get(id);
    if (!stream) {
      if (id > this.lastStreamId) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      return; // a stream already answered or reset: its late data is dropped
    }
    if (stream.remoteClosed) {
      this.resetStream(stream, ErrorCode.STREAM_CLOSED);
      stream.events.onAbort?.('the client sent DATA after ending the stream');
      return;
    }
    stream.unacked += size;
    if (stream.unacked > LOCAL_STREAM_WINDOW) throw new Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, `stream ${id} sent past its window`);
    const endStream = (frame.flags & Flag.END_STREAM) !== 0;
    if (!endStream && stream.unacked >= LOCAL_STREAM_WINDOW / 2) {
      this.push(windowUpdateFrame(id, stream.unacked));
      stream.unacked = 0;
    }
    const data = unpad(frame, 0);
    if (data.length > 0) stream.events.onData?.(data);
    if (endStream && this.streams.has(id)) this.onRemoteEnd(stream);
  }

  private onRstStream(frame: Frame): void {
    if (frame.streamId === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (frame.payload.length !== 4) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM must be 4 bytes');
    const stream = this.streams.get(frame.streamId);
    if (!stream) return;
    stream.localClosed = true;
    stream.queue.length = 0;
    stream.queuedBytes = 0;
    this.forget(stream);
    stream.events.onAbort?.(`the client reset the stream (code ${frame.payload.readUInt32BE(0)})`);
  }

  private onSettings(frame: Frame): void {
    if (frame.streamId !== 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (frame.flags & Flag.ACK) {
      if (frame.payload.length !== 0) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    const p = frame.payload;
    if (p.length % 6 !== 0) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length not a multiple of 6');
    for (let at = 0; at < p.length; at += 6) {
      const id = p.readUInt16BE(at);
      const value = p.readUInt32BE(at + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) throw new Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1');
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'stream window over 2^31-1');
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.peerMaxFrameSize = value;
          break;
        default:
          // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. The rest only bind the client.
          break;
      }
    }
    this.push(SETTINGS_ACK);
  }

  private onPing(frame: Frame): void {
    if (frame.streamId !== 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (frame.payload.length !== 8) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'PING must be 8 bytes');
    if (!(frame.flags & Flag.ACK)) this.push(pingAckFrame(frame.payload));
  }

  private onGoaway(frame: Frame): void {
    if (frame.streamId !== 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    // The client opens no more streams; the open ones are answered, then the socket ends.
    if (this.goawayLastStreamId === undefined) this.goAway();
  }

  private onWindowUpdate(frame: Frame): void {
    if (frame.payload.length !== 4) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE must be 4 bytes');
    const increment = frame.payload.readUInt32BE(0) & 0x7fffffff;
    if (frame.streamId === 0) {
      if (increment === 0) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) throw new Http2ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
    } else {
      const stream = this.streams.get(frame.streamId);
      if (!stream) return;
      if (increment === 0 || stream.sendWindow + increment > MAX_WINDOW) {
        this.resetStream(stream, increment === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR);
        stream.events.onAbort?.('the client sent an invalid WINDOW_UPDATE');
        return;
      }
      stream.sendWindow += increment;
    }
    this.scheduleFlush();
  }

  private connectionError(err: Http2ProtocolError): void {
    if (this.closed) return;
    this.options.onError?.(err);
    this.push(goawayFrame(this.lastStreamId, err.code, err.message));
    this.flush();
    this.socket.end();
    this.onSocketClose();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.streams.values()];
    this.streams.clear();
    for (const s of open) {
      s.localClosed = true;
      s.events.onAbort?.('the connection closed');
    }
    this.options.onClose?.();
  }
}
