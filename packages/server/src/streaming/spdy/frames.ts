// SPDY/3.1 frames: typed representations, and their encoding and decoding (SPDY/3 §2.2, §2.6).
//
// Every frame has an 8-byte header. A control frame:    |1| version(15) | type(16) | flags(8) | length(24) |
// A data frame:                                         |0| stream-id(31)          | flags(8) | length(24) |
// then `length` bytes. The X (reserved) bits in front of 31-bit ids are ignored on read and zero
// on write. Header-bearing frames (SYN_STREAM, SYN_REPLY, HEADERS) carry a compressed name/value
// block, so encoding and decoding them goes through the connection's compression contexts.
import {
  FRAME_HEADER_SIZE,
  Flag,
  FrameType,
  MAX_FRAME_LENGTH,
  MAX_STREAM_ID,
  SPDY_VERSION,
} from './constants';
import { SpdyError, SpdyProtocolError } from './errors';
import {
  HeaderCompressor,
  HeaderDecompressor,
  SpdyHeaderBlockError,
  decodeHeaderBlock,
  emptyHeaders,
  encodeHeaderBlock,
} from './headers';
import type { SpdyHeaders, SpdyHeadersInit } from './headers';

export * from './constants';

export interface DataFrame {
  type: 'DATA';
  streamId: number;
  fin: boolean;
  data: Buffer;
}

/** Fields of the frames that carry a header block. */
interface WithHeaders {
  /** On decode: the decoded block. On encode: anything SpdyHeadersInit accepts. */
  headers: SpdyHeaders;
  /**
   * Decode only: the block decompressed (the compression state is intact) but is malformed, so
   * `headers` is empty and the receiver resets the stream with PROTOCOL_ERROR (SPDY/3 §2.6.10).
   */
  headerError?: string;
}

export interface SynStreamFrame extends WithHeaders {
  type: 'SYN_STREAM';
  streamId: number;
  /** 0 unless the stream is pushed in relation to another one. */
  associatedStreamId: number;
  /** 0 (highest) to 7 (lowest). */
  priority: number;
  /** CREDENTIAL slot (SPDY/3), 0 in SPDY/3.1. */
  slot: number;
  fin: boolean;
  unidirectional: boolean;
}

export interface SynReplyFrame extends WithHeaders {
  type: 'SYN_REPLY';
  streamId: number;
  fin: boolean;
}

export interface RstStreamFrame {
  type: 'RST_STREAM';
  streamId: number;
  status: number;
}

export interface SettingsEntry {
  id: number;
  value: number;
  /** SettingsFlag bits (persistence, which crisp neither requests nor honours). */
  flags: number;
}

export interface SettingsFrame {
  type: 'SETTINGS';
  clearSettings: boolean;
  settings: SettingsEntry[];
}

export interface PingFrame {
  type: 'PING';
  /** Unsigned 32-bit; the client uses odd ids, the server even ones. */
  id: number;
}

export interface GoAwayFrame {
  type: 'GOAWAY';
  lastGoodStreamId: number;
  status: number;
}

export interface HeadersFrame extends WithHeaders {
  type: 'HEADERS';
  streamId: number;
  fin: boolean;
}

export interface WindowUpdateFrame {
  type: 'WINDOW_UPDATE';
  /** 0 for the session window (SPDY/3.1). */
  streamId: number;
  delta: number;
}

/** A control frame of a type this implementation does not know: receivers ignore it (§2.2.1). */
export interface UnknownFrame {
  type: 'UNKNOWN';
  frameType: number;
  flags: number;
  payload: Buffer;
}

export type Frame =
  | DataFrame
  | SynStreamFrame
  | SynReplyFrame
  | RstStreamFrame
  | SettingsFrame
  | PingFrame
  | GoAwayFrame
  | HeadersFrame
  | WindowUpdateFrame
  | UnknownFrame;

/** Frames as given to encodeFrame: header blocks may be given as SpdyHeadersInit. */
export type FrameInit =
  | Exclude<Frame, SynStreamFrame | SynReplyFrame | HeadersFrame>
  | (Omit<SynStreamFrame, 'headers' | 'headerError'> & { headers: SpdyHeadersInit })
  | (Omit<SynReplyFrame, 'headers' | 'headerError'> & { headers: SpdyHeadersInit })
  | (Omit<HeadersFrame, 'headers' | 'headerError'> & { headers: SpdyHeadersInit });

/** The 8-byte header common to all frames. */
export interface FrameHead {
  control: boolean;
  /** Control frames: the protocol version (3). */
  version: number;
  /** Control frames: the frame type. */
  type: number;
  /** Data frames: the stream id. */
  streamId: number;
  flags: number;
  length: number;
}

export function decodeFrameHead(buf: Buffer, offset = 0): FrameHead {
  const first = buf.readUInt32BE(offset);
  const flags = buf[offset + 4];
  const length = buf.readUIntBE(offset + 5, 3);
  if (first & 0x8000_0000) {
    return { control: true, version: (first >>> 16) & 0x7fff, type: first & 0xffff, streamId: 0, flags, length };
  }
  return { control: false, version: 0, type: 0, streamId: first & MAX_STREAM_ID, flags, length };
}

function controlHead(type: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_LENGTH) throw new SpdyError(`SPDY frame payload of ${length} bytes exceeds 2^24-1`);
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  b.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  b.writeUInt16BE(type, 2);
  b[4] = flags;
  b.writeUIntBE(length, 5, 3);
  return b;
}

/** The 8-byte header of a DATA frame (the payload is written after it, uncopied). */
export function encodeDataFrameHead(streamId: number, fin: boolean, length: number): Buffer {
  checkId('stream id', streamId, 1, MAX_STREAM_ID);
  if (length > MAX_FRAME_LENGTH) throw new SpdyError(`SPDY frame payload of ${length} bytes exceeds 2^24-1`);
  const b = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  b.writeUInt32BE(streamId, 0);
  b[4] = fin ? Flag.FIN : 0;
  b.writeUIntBE(length, 5, 3);
  return b;
}

function checkId(what: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new SpdyError(`invalid SPDY ${what} ${v}`);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
}

/**
 * Encodes a frame. Header-bearing frames need the connection's outbound compressor, and must be
 * written in the order they are encoded (the compression context is shared by the direction).
 */
export function encodeFrame(frame: FrameInit, compressor?: HeaderCompressor): Buffer {
  const compressed = (headers: SpdyHeadersInit): Buffer => {
    if (!compressor) throw new SpdyError(`encoding a ${frame.type} frame needs a header compressor`);
    return compressor.compress(encodeHeaderBlock(headers));
  };
  const fin = (f: { fin: boolean }): number => (f.fin ? Flag.FIN : 0);
  switch (frame.type) {
    case 'DATA':
      return Buffer.concat([encodeDataFrameHead(frame.streamId, frame.fin, frame.data.length), frame.data]);
    case 'SYN_STREAM': {
      checkId('stream id', frame.streamId, 1, MAX_STREAM_ID);
      checkId('associated stream id', frame.associatedStreamId, 0, MAX_STREAM_ID);
      checkId('priority', frame.priority, 0, 7);
      checkId('slot', frame.slot, 0, 255);
      const block = compressed(frame.headers);
      const body = Buffer.allocUnsafe(10);
      body.writeUInt32BE(frame.streamId, 0);
      body.writeUInt32BE(frame.associatedStreamId, 4);
      body[8] = frame.priority << 5;
      body[9] = frame.slot;
      const flags = fin(frame) | (frame.unidirectional ? Flag.UNIDIRECTIONAL : 0);
      return Buffer.concat([controlHead(FrameType.SYN_STREAM, flags, 10 + block.length), body, block]);
    }
    case 'SYN_REPLY':
    case 'HEADERS': {
      checkId('stream id', frame.streamId, 1, MAX_STREAM_ID);
      const block = compressed(frame.headers);
      const type = frame.type === 'SYN_REPLY' ? FrameType.SYN_REPLY : FrameType.HEADERS;
      return Buffer.concat([controlHead(type, fin(frame), 4 + block.length), u32s(frame.streamId), block]);
    }
    case 'RST_STREAM':
      checkId('stream id', frame.streamId, 1, MAX_STREAM_ID);
      checkId('RST_STREAM status', frame.status, 1, 0xffff_ffff);
      return Buffer.concat([controlHead(FrameType.RST_STREAM, 0, 8), u32s(frame.streamId, frame.status)]);
    case 'SETTINGS': {
      const body = Buffer.allocUnsafe(4 + 8 * frame.settings.length);
      body.writeUInt32BE(frame.settings.length, 0);
      frame.settings.forEach((s, i) => {
        checkId('setting id', s.id, 0, 0xff_ffff);
        checkId('setting flags', s.flags, 0, 0xff);
        body[4 + 8 * i] = s.flags;
        body.writeUIntBE(s.id, 5 + 8 * i, 3);
        body.writeUInt32BE(s.value >>> 0, 8 + 8 * i);
      });
      const flags = frame.clearSettings ? Flag.CLEAR_SETTINGS : 0;
      return Buffer.concat([controlHead(FrameType.SETTINGS, flags, body.length), body]);
    }
    case 'PING':
      // spdystream's framer rejects id 0 (and any flag) on PING.
      checkId('PING id', frame.id, 1, 0xffff_ffff);
      return Buffer.concat([controlHead(FrameType.PING, 0, 4), u32s(frame.id)]);
    case 'GOAWAY':
      checkId('last good stream id', frame.lastGoodStreamId, 0, MAX_STREAM_ID);
      checkId('GOAWAY status', frame.status, 0, 0xffff_ffff);
      return Buffer.concat([controlHead(FrameType.GOAWAY, 0, 8), u32s(frame.lastGoodStreamId, frame.status)]);
    case 'WINDOW_UPDATE':
      checkId('stream id', frame.streamId, 0, MAX_STREAM_ID);
      checkId('window delta', frame.delta, 1, 0x7fff_ffff);
      return Buffer.concat([controlHead(FrameType.WINDOW_UPDATE, 0, 8), u32s(frame.streamId, frame.delta)]);
    case 'UNKNOWN':
      return Buffer.concat([controlHead(frame.frameType, frame.flags, frame.payload.length), frame.payload]);
  }
}

/**
 * Decodes one frame from its header and complete payload. Throws SpdyProtocolError (a session
 * error) for a frame that breaks the framing layer. Header blocks are inflated with the
 * connection's inbound decompressor; a block that inflates but is malformed is reported in
 * `headerError` instead, since the session can go on.
 */
export function decodeFrame(head: FrameHead, payload: Buffer, decompressor: HeaderDecompressor): Frame {
  const fail = (why: string): never => {
    throw new SpdyProtocolError(`invalid SPDY frame: ${why}`);
  };
  if (payload.length !== head.length) fail(`payload of ${payload.length} bytes for a length of ${head.length}`);
  if (!head.control) {
    if (head.streamId === 0) fail('DATA frame on stream 0');
    return { type: 'DATA', streamId: head.streamId, fin: (head.flags & Flag.FIN) !== 0, data: payload };
  }
  if (head.version !== SPDY_VERSION) {
    // A SPDY/2 peer would also use another header format and dictionary: nothing can go on.
    fail(`version ${head.version} control frame (only SPDY/3 is spoken)`);
  }
  const fin = (head.flags & Flag.FIN) !== 0;
  const stream = (off: number, name: string): number => {
    const id = payload.readUInt32BE(off) & MAX_STREAM_ID;
    if (id === 0) fail(`${name} on stream 0`);
    return id;
  };
  const exactly = (n: number, name: string): void => {
    if (head.length !== n) fail(`${name} of length ${head.length} (must be ${n})`);
  };
  const withHeaders = (block: Buffer): WithHeaders => {
    const raw = decompressor.decompress(block);
    try {
      return { headers: decodeHeaderBlock(raw) };
    } catch (err) {
      if (!(err instanceof SpdyHeaderBlockError)) throw err;
      return { headers: emptyHeaders(), headerError: err.message };
    }
  };
  switch (head.type) {
    case FrameType.SYN_STREAM: {
      if (head.length < 10) fail(`SYN_STREAM of length ${head.length}`);
      const streamId = stream(0, 'SYN_STREAM');
      return {
        type: 'SYN_STREAM',
        streamId,
        associatedStreamId: payload.readUInt32BE(4) & MAX_STREAM_ID,
        priority: payload[8] >>> 5,
        slot: payload[9],
        fin,
        unidirectional: (head.flags & Flag.UNIDIRECTIONAL) !== 0,
        ...withHeaders(payload.subarray(10)),
      };
    }
    case FrameType.SYN_REPLY:
    case FrameType.HEADERS: {
      const name = head.type === FrameType.SYN_REPLY ? 'SYN_REPLY' : 'HEADERS';
      if (head.length < 4) fail(`${name} of length ${head.length}`);
      const streamId = stream(0, name);
      return { type: name, streamId, fin, ...withHeaders(payload.subarray(4)) };
    }
    case FrameType.RST_STREAM:
      exactly(8, 'RST_STREAM');
      return { type: 'RST_STREAM', streamId: stream(0, 'RST_STREAM'), status: payload.readUInt32BE(4) };
    case FrameType.SETTINGS: {
      if (head.length < 4) fail(`SETTINGS of length ${head.length}`);
      const count = payload.readUInt32BE(0);
      if (head.length !== 4 + 8 * count) fail(`SETTINGS of length ${head.length} for ${count} entries`);
      const settings: SettingsEntry[] = [];
      for (let i = 0; i < count; i++) {
        const off = 4 + 8 * i;
        settings.push({ flags: payload[off], id: payload.readUIntBE(off + 1, 3), value: payload.readUInt32BE(off + 4) });
      }
      return { type: 'SETTINGS', clearSettings: (head.flags & Flag.CLEAR_SETTINGS) !== 0, settings };
    }
    case FrameType.PING:
      exactly(4, 'PING');
      return { type: 'PING', id: payload.readUInt32BE(0) };
    case FrameType.GOAWAY:
      exactly(8, 'GOAWAY');
      return { type: 'GOAWAY', lastGoodStreamId: payload.readUInt32BE(0) & MAX_STREAM_ID, status: payload.readUInt32BE(4) };
    case FrameType.WINDOW_UPDATE:
      exactly(8, 'WINDOW_UPDATE');
      return {
        type: 'WINDOW_UPDATE',
        streamId: payload.readUInt32BE(0) & MAX_STREAM_ID,
        delta: payload.readUInt32BE(4) & 0x7fff_ffff,
      };
    default:
      return { type: 'UNKNOWN', frameType: head.type, flags: head.flags, payload };
  }
}
