// HTTP/2 framing (RFC 9113 §4, §6): the frame header, the frames this server sends, and an incremental
// reader that takes frames split or coalesced across socket reads.

export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_BYTES = 9;
/** The largest frame payload either side may send until told otherwise (SETTINGS_MAX_FRAME_SIZE default). */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** Initial stream and connection flow-control window (RFC 9113 §6.9.2). */
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;

export const enum FrameType {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

export const enum ErrorCode {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  ENHANCE_YOUR_CALM = 0xb,
}

/** A connection error (RFC 9113 §5.4.1): the connection ends with GOAWAY carrying `code`. */
export class Http2ProtocolError extends Error {
  override name = 'Http2ProtocolError';
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  /** A view into the socket's chunk; it stays valid (Node does not reuse read buffers). */
  payload: Buffer;
}

function writeHeader(out: Buffer, at: number, length: number, type: number, flags: number, streamId: number): void {
  out[at] = (length >>> 16) & 0xff;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, at + 5);
}

/** A frame with `payload` copied in after its header. */
export function frame(type: number, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeHeader(out, 0, length, type, flags, streamId);
  if (payload) out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Just the 9-byte header, for a payload written separately (DATA slices are not copied). */
export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  writeHeader(out, 0, length, type, flags, streamId);
  return out;
}

export function settingsFrame(settings: ReadonlyArray<readonly [Setting, number]>): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment & 0x7fffffff, 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: ErrorCode): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function goawayFrame(lastStreamId: number, code: ErrorCode, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

export function pingAckFrame(opaque: Buffer): Buffer {
  return frame(FrameType.PING, Flag.ACK, 0, opaque);
}

/**
 * HEADERS, then CONTINUATION frames when the block is larger than the peer's frame size: one buffer,
 * so the block is never interleaved with another stream's frames.
 */
export function headersFrames(streamId: number, block: Uint8Array, endStream: boolean, maxFrameSize: number): Buffer {
  const count = Math.max(1, Math.ceil(block.length / maxFrameSize));
  const out = Buffer.allocUnsafe(count * FRAME_HEADER_BYTES + block.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const part = block.subarray(i * maxFrameSize, (i + 1) * maxFrameSize);
    const last = i === count - 1;
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
    writeHeader(out, at, part.length, type, flags, streamId);
    out.set(part, at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + part.length;
  }
  return out;
}

/**
 * The payload of a padded frame without its padding (RFC 9113 §6.1): `extra` bytes of priority fields
 * follow the pad length in HEADERS.
 */
export function unpad(frame: Frame, extra: number): Buffer {
  let p = frame.payload;
  let padLength = 0;
  if (frame.flags & Flag.PADDED) {
    if (p.length < 1) throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    padLength = p[0]!;
    p = p.subarray(1);
  }
  if (padLength + extra > p.length) throw new Http2ProtocolError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
  return p.subarray(extra, p.length - padLength);
}

/** Cuts a byte stream into frames; bytes of a frame not yet complete wait for the next chunk. */
export class FrameReader {
  private rest: Buffer | undefined;

  constructor(private maxPayload: number) {}

  /** Calls `onFrame` for each complete frame in what has arrived so far. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    this.rest = undefined;
    let at = 0;
    while (buf.length - at >= FRAME_HEADER_BYTES) {
      const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
      if (length > this.maxPayload) {
        throw new Http2ProtocolError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes is over SETTINGS_MAX_FRAME_SIZE ${this.maxPayload}`);
      }
      const end = at + FRAME_HEADER_BYTES + length;
      if (end > buf.length) break;
      onFrame({
        type: buf[at + 3]!,
        flags: buf[at + 4]!,
        streamId: buf.readUInt32BE(at + 5) & 0x7fffffff,
        payload: buf.subarray(at + FRAME_HEADER_BYTES, end),
      });
      at = end;
    }
    if (at < buf.length) this.rest = at === 0 ? buf : buf.subarray(at);
  }
}
