import {
  FrameParser,
  GoAwayStatus,
  HeaderCompressor,
  RstStatus,
  SettingsId,
  SpdyProtocolError,
  encodeFrame,
} from '../src/streaming/spdy';
import type { Frame, FrameInit } from '../src/streaming/spdy';

/** What kubelet's side sends for an exec, then one of every other frame type, in one byte stream. */
function conversation(dataSize: number): { bytes: Buffer; frames: FrameInit[] } {
  const syn = (streamId: number, streamtype: string): FrameInit => ({
    type: 'SYN_STREAM',
    streamId,
    associatedStreamId: 0,
    priority: 0,
    slot: 0,
    fin: false,
    unidirectional: false,
    headers: { streamtype },
  });
  const frames: FrameInit[] = [
    syn(1, 'error'),
    syn(3, 'stdin'),
    syn(5, 'stdout'),
    syn(7, 'stderr'),
    syn(9, 'resize'),
    { type: 'DATA', streamId: 9, fin: false, data: Buffer.from('{"Width":80,"Height":24}') },
    { type: 'DATA', streamId: 3, fin: false, data: Buffer.from('echo hi\n') },
    { type: 'DATA', streamId: 3, fin: true, data: Buffer.alloc(0) },
    { type: 'PING', id: 1 },
    { type: 'SETTINGS', clearSettings: false, settings: [{ id: SettingsId.INITIAL_WINDOW_SIZE, value: 1 << 20, flags: 0 }] },
    { type: 'WINDOW_UPDATE', streamId: 5, delta: 4096 },
    { type: 'WINDOW_UPDATE', streamId: 0, delta: 65536 },
    { type: 'HEADERS', streamId: 5, fin: false, headers: { 'x-more': ['a', 'b'] } },
    { type: 'SYN_REPLY', streamId: 2, fin: true, headers: {} },
    { type: 'DATA', streamId: 5, fin: false, data: Buffer.alloc(dataSize, 0x61) },
    { type: 'RST_STREAM', streamId: 7, status: RstStatus.CANCEL },
    { type: 'UNKNOWN', frameType: 10, flags: 0, payload: Buffer.from([9, 9]) },
    { type: 'GOAWAY', lastGoodStreamId: 0, status: GoAwayStatus.OK },
  ];
  const compressor = new HeaderCompressor();
  return { bytes: Buffer.concat(frames.map((f) => encodeFrame(f, compressor))), frames };
}

/** Frames in a comparable form (headers as plain objects of string lists, buffers as hex). */
function comparable(frames: readonly (Frame | FrameInit)[]): unknown {
  return frames.map((f) => {
    const o: Record<string, unknown> = { ...f };
    if ('headers' in f) {
      const headers: Record<string, string[]> = {};
      for (const [k, v] of Object.entries(f.headers)) headers[k] = (Array.isArray(v) ? v : [v]).map(String);
      o.headers = headers;
    }
    if ('data' in f) o.data = f.data.toString('hex');
    if ('payload' in f) o.payload = f.payload.toString('hex');
    return o;
  });
}

/** Feeds the pieces one after the other, taking every frame that completes. */
function parse(pieces: Buffer[], parser = new FrameParser()): Frame[] {
  const out: Frame[] = [];
  for (const piece of pieces) {
    parser.push(piece);
    for (let f = parser.next(); f; f = parser.next()) out.push(f);
  }
  expect(parser.bufferedBytes).toBe(0);
  return out;
}

describe('FrameParser', () => {
  // Every header block costs an inflate: the every-position test uses a short DATA frame.
  const { bytes, frames } = conversation(5000);
  const small = conversation(100);
  const expected = comparable(frames);
  /** Cheap comparison first (thousands of runs); jest's diff only when they differ. */
  const expectFrames = (got: Frame[], want: unknown): void => {
    const c = comparable(got);
    if (JSON.stringify(c) !== JSON.stringify(want)) expect(c).toEqual(want);
  };

  it('parses a whole conversation pushed at once (frames coalesced in one read)', () => {
    expect(comparable(parse([bytes]))).toEqual(expected);
  });

  it('parses it cut in two at every byte position', () => {
    const want = comparable(small.frames);
    for (let cut = 0; cut <= small.bytes.length; cut++) {
      expectFrames(parse([small.bytes.subarray(0, cut), small.bytes.subarray(cut)]), want);
    }
  });

  it('parses it fed one byte at a time', () => {
    const pieces = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    expect(comparable(parse(pieces))).toEqual(expected);
  });

  it('parses it cut at random places, many times', () => {
    let seed = 42;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let round = 0; round < 200; round++) {
      const pieces: Buffer[] = [];
      for (let off = 0; off < bytes.length; ) {
        const n = 1 + rand(round % 2 ? 40 : 700);
        pieces.push(bytes.subarray(off, off + n));
        off += n;
      }
      expectFrames(parse(pieces), expected);
    }
  });

  it('returns null until a frame is complete, and keeps what it has', () => {
    const parser = new FrameParser();
    const ping = encodeFrame({ type: 'PING', id: 7 });
    parser.push(ping.subarray(0, 5));
    expect(parser.next()).toBeNull();
    parser.push(ping.subarray(5, 9));
    expect(parser.next()).toBeNull();
    expect(parser.bufferedBytes).toBe(1); // the 8-byte header was taken; 1 byte of payload waits
    parser.push(ping.subarray(9));
    expect(parser.next()).toEqual({ type: 'PING', id: 7 });
    expect(parser.next()).toBeNull();
  });

  it('hands out DATA payloads without copying when a frame sits in one chunk', () => {
    const chunk = encodeFrame({ type: 'DATA', streamId: 1, fin: false, data: Buffer.from('abcdef') });
    const parser = new FrameParser();
    parser.push(chunk);
    const f = parser.next();
    expect(f?.type).toBe('DATA');
    if (f?.type !== 'DATA') return;
    expect(f.data.buffer).toBe(chunk.buffer);
    expect(f.data.toString()).toBe('abcdef');
  });

  it('rejects an oversized DATA frame as soon as its header arrives, before buffering it', () => {
    const parser = new FrameParser({ maxDataFrameSize: 1024 });
    const head = encodeFrame({ type: 'DATA', streamId: 1, fin: false, data: Buffer.alloc(1025) }).subarray(0, 8);
    parser.push(head);
    expect(() => parser.next()).toThrow(SpdyProtocolError);
    expect(() => parser.next()).toThrow(/exceeds the limit of 1024/);
    // Failed for good: nothing more is parsed.
    parser.push(encodeFrame({ type: 'PING', id: 1 }));
    expect(() => parser.next()).toThrow(SpdyProtocolError);
    expect(parser.bufferedBytes).toBeLessThanOrEqual(12);
  });

  it('accepts frames at the limits and rejects an oversized control frame', () => {
    const parser = new FrameParser({ maxDataFrameSize: 1024, maxControlFrameSize: 16 });
    parser.push(encodeFrame({ type: 'DATA', streamId: 1, fin: false, data: Buffer.alloc(1024) }));
    expect(parser.next()).toMatchObject({ type: 'DATA', streamId: 1 });
    parser.push(encodeFrame({ type: 'UNKNOWN', frameType: 99, flags: 0, payload: Buffer.alloc(16) }));
    expect(parser.next()).toMatchObject({ type: 'UNKNOWN', frameType: 99 });
    parser.push(encodeFrame({ type: 'UNKNOWN', frameType: 99, flags: 0, payload: Buffer.alloc(17) }));
    expect(() => parser.next()).toThrow(/control frame \(type 99\) of 17 bytes/);
  });

  it('accepts DATA frames up to 2^24-1 bytes by default (spdystream sends a Write() as one frame)', () => {
    const parser = new FrameParser();
    const big = Buffer.alloc(0xff_ffff, 1);
    const frame = encodeFrame({ type: 'DATA', streamId: 3, fin: true, data: big });
    // Arriving in socket-sized reads.
    for (let off = 0; off < frame.length; off += 65536) parser.push(frame.subarray(off, off + 65536));
    const f = parser.next();
    expect(f?.type === 'DATA' && f.data.length).toBe(0xff_ffff);
  });

  it('reports a malformed frame as a session error and stays failed', () => {
    const parser = new FrameParser();
    parser.push(Buffer.from('8003000600000008000000010000000280030006000000040000000b', 'hex'));
    expect(() => parser.next()).toThrow(/PING of length 8/);
    expect(() => parser.next()).toThrow(SpdyProtocolError);
  });

  it('shares the inbound compression state across frames, whatever the chunking', () => {
    // A second run over the same bytes with a fresh parser gives the same headers: the parser
    // owns one decompressor for the whole byte stream, and a fresh one starts over.
    const first = parse([bytes]);
    const second = parse([bytes]);
    expect(comparable(second)).toEqual(comparable(first));
    // A parser that misses the first header block cannot decode later ones.
    const firstFrameLength = 8 + bytes.readUIntBE(5, 3);
    const late = new FrameParser();
    late.push(bytes.subarray(firstFrameLength));
    expect(() => {
      for (let f = late.next(); f; f = late.next());
    }).toThrow(SpdyProtocolError);
  });
});
