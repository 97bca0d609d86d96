import {
  Flag,
  FrameType,
  GoAwayStatus,
  HeaderCompressor,
  HeaderDecompressor,
  RstStatus,
  SettingsFlag,
  SettingsId,
  SpdyError,
  SpdyProtocolError,
  decodeFrame,
  decodeFrameHead,
  encodeDataFrameHead,
  encodeFrame,
} from '../src/streaming/spdy';
import type { Frame, FrameInit } from '../src/streaming/spdy';

/** Decodes one whole encoded frame. */
function decodeOne(bytes: Buffer, decompressor = new HeaderDecompressor()): Frame {
  const head = decodeFrameHead(bytes);
  expect(bytes.length).toBe(8 + head.length);
  return decodeFrame(head, bytes.subarray(8), decompressor);
}

/** The fields of a frame as decoded (headers without prototype compared as plain objects). */
const plain = (f: Frame): unknown => JSON.parse(JSON.stringify(f, (_k, v) => (Buffer.isBuffer(v) ? v.toString('hex') : v)));

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

describe('SPDY frames', () => {
  describe('round trips', () => {
    // One frame of every type, with every flag and edge value the decoder must keep.
    const frames: FrameInit[] = [
      { type: 'DATA', streamId: 1, fin: false, data: Buffer.from('hello') },
      { type: 'DATA', streamId: 0x7fff_ffff, fin: true, data: Buffer.alloc(0) },
      {
        type: 'SYN_STREAM',
        streamId: 3,
        associatedStreamId: 0,
        priority: 0,
        slot: 0,
        fin: false,
        unidirectional: false,
        headers: { streamtype: 'stdin' },
      },
      {
        type: 'SYN_STREAM',
        streamId: 5,
        associatedStreamId: 2,
        priority: 7,
        slot: 9,
        fin: true,
        unidirectional: true,
        headers: { streamtype: 'data', port: '8080', requestid: '0' },
      },
      { type: 'SYN_REPLY', streamId: 3, fin: false, headers: {} },
      { type: 'SYN_REPLY', streamId: 5, fin: true, headers: { status: '200', 'x-multi': ['a', 'b'] } },
      { type: 'RST_STREAM', streamId: 7, status: RstStatus.CANCEL },
      { type: 'RST_STREAM', streamId: 9, status: RstStatus.FRAME_TOO_LARGE },
      { type: 'SETTINGS', clearSettings: false, settings: [] },
      {
        type: 'SETTINGS',
        clearSettings: true,
        settings: [
          { id: SettingsId.MAX_CONCURRENT_STREAMS, value: 100, flags: 0 },
          { id: SettingsId.INITIAL_WINDOW_SIZE, value: 0x7fff_ffff, flags: SettingsFlag.PERSIST_VALUE },
          { id: 0xff_ffff, value: 0xffff_ffff, flags: SettingsFlag.PERSISTED },
        ],
      },
      { type: 'PING', id: 1 },
      { type: 'PING', id: 0xffff_fffe },
      { type: 'GOAWAY', lastGoodStreamId: 0, status: GoAwayStatus.OK },
      { type: 'GOAWAY', lastGoodStreamId: 41, status: GoAwayStatus.INTERNAL_ERROR },
      { type: 'HEADERS', streamId: 11, fin: false, headers: { a: '1' } },
      { type: 'HEADERS', streamId: 11, fin: true, headers: { b: '' } },
      { type: 'WINDOW_UPDATE', streamId: 0, delta: 1 },
      { type: 'WINDOW_UPDATE', streamId: 13, delta: 0x7fff_ffff },
      { type: 'UNKNOWN', frameType: 10, flags: 3, payload: Buffer.from([1, 2, 3]) },
    ];

    it('decodes every frame type to what was encoded, with one compression context per direction', () => {
      const compressor = new HeaderCompressor();
      const decompressor = new HeaderDecompressor();
      for (const frame of frames) {
        const decoded = decodeOne(encodeFrame(frame, compressor), decompressor);
        const expected = 'headers' in frame ? { ...frame, headers: normalized(frame.headers) } : frame;
        expect(plain(decoded)).toEqual(plain(expected as Frame));
      }
    });

    function normalized(headers: Record<string, unknown>): Record<string, string[]> {
      const out: Record<string, string[]> = {};
      for (const [k, v] of Object.entries(headers)) out[k] = (Array.isArray(v) ? v : [v]).map(String);
      return out;
    }
  });

  describe('wire layout', () => {
    it('control frame header: C bit, version 3, type, flags, 24-bit length', () => {
      expect(encodeFrame({ type: 'PING', id: 1 })).toEqual(h('8003 0006 00 000004 00000001'));
      expect(encodeFrame({ type: 'RST_STREAM', streamId: 3, status: RstStatus.CANCEL })).toEqual(
        h('8003 0003 00 000008 00000003 00000005'),
      );
      expect(encodeFrame({ type: 'GOAWAY', lastGoodStreamId: 5, status: GoAwayStatus.PROTOCOL_ERROR })).toEqual(
        h('8003 0007 00 000008 00000005 00000001'),
      );
      expect(encodeFrame({ type: 'WINDOW_UPDATE', streamId: 0, delta: 0x10000 })).toEqual(
        h('8003 0009 00 000008 00000000 00010000'),
      );
      expect(
        encodeFrame({
          type: 'SETTINGS',
          clearSettings: true,
          settings: [{ id: SettingsId.INITIAL_WINDOW_SIZE, value: 0x20000, flags: SettingsFlag.PERSIST_VALUE }],
        }),
      ).toEqual(h('8003 0004 01 00000c 00000001 01000007 00020000'));
    });

    it('data frame header: stream id, flags, 24-bit length, then the payload', () => {
      expect(encodeFrame({ type: 'DATA', streamId: 5, fin: true, data: Buffer.from('hi') })).toEqual(
        h('00000005 01 000002 6869'),
      );
      expect(encodeDataFrameHead(0x7fff_ffff, false, 0xff_ffff)).toEqual(h('7fffffff 00 ffffff'));
    });

    it('SYN_STREAM: stream id, associated id, priority in the top 3 bits, slot, then the header block', () => {
      const bytes = encodeFrame(
        {
          type: 'SYN_STREAM',
          streamId: 1,
          associatedStreamId: 0,
          priority: 3,
          slot: 0,
          fin: true,
          unidirectional: true,
          headers: { streamtype: 'error' },
        },
        new HeaderCompressor(),
      );
      expect(bytes.subarray(0, 4)).toEqual(h('80030001'));
      expect(bytes[4]).toBe(Flag.FIN | Flag.UNIDIRECTIONAL);
      expect(bytes.readUIntBE(5, 3)).toBe(bytes.length - 8);
      expect(bytes.subarray(8, 18)).toEqual(h('00000001 00000000 60 00'));
      // The block opens the zlib stream: CMF 0x78, FDICT set, dictionary id 0xe3c6a7c2.
      expect(bytes[18]).toBe(0x78);
      expect(bytes[19] & 0x20).toBe(0x20);
      expect(bytes.subarray(20, 24)).toEqual(h('e3c6a7c2'));
    });

    it('ignores the reserved X bits in front of 31-bit ids in control frames', () => {
      const rst = decodeOne(h('8003 0003 00 000008 80000009 00000001'));
      expect(rst).toEqual({ type: 'RST_STREAM', streamId: 9, status: 1 });
      const wu = decodeOne(h('8003 0009 00 000008 80000000 80000010'));
      expect(wu).toEqual({ type: 'WINDOW_UPDATE', streamId: 0, delta: 16 });
    });

    it('decodes unknown control frame types (NOOP, CREDENTIAL, future ones) as UNKNOWN, to be ignored', () => {
      expect(decodeOne(h('8003 0005 00 000000'))).toEqual({ type: 'UNKNOWN', frameType: 5, flags: 0, payload: Buffer.alloc(0) });
      expect(decodeOne(h('8003 000a 00 000002 abcd'))).toMatchObject({ type: 'UNKNOWN', frameType: 10 });
    });
  });

  describe('invalid frames are session errors', () => {
    const cases: [string, string][] = [
      ['a SPDY/2 control frame', '8002 0006 00 000004 00000001'],
      ['a PING of the wrong length', '8003 0006 00 000008 00000001 00000002'],
      ['a GOAWAY of SPDY/2 length', '8003 0007 00 000004 00000001'],
      ['a RST_STREAM on stream 0', '8003 0003 00 000008 00000000 00000001'],
      ['a short RST_STREAM', '8003 0003 00 000004 00000001'],
      ['a WINDOW_UPDATE of the wrong length', '8003 0009 00 000004 00000001'],
      ['SETTINGS whose count does not match the length', '8003 0004 00 00000c 00000002 00000007 00010000'],
      ['a DATA frame on stream 0', '00000000 00 000001 00'],
      ['a SYN_STREAM shorter than its fixed part', '8003 0001 00 000004 00000001'],
      ['a SYN_REPLY on stream 0', '8003 0002 00 000008 00000000 00000000'],
    ];
    it.each(cases)('%s', (_name, hex) => {
      expect(() => decodeOne(h(hex))).toThrow(SpdyProtocolError);
    });

    it('a header block that does not decompress', () => {
      expect(() => decodeOne(h('8003 0002 00 00000c 00000001 01020304 0000ffff'))).toThrow(SpdyProtocolError);
    });
  });

  it('reports a malformed (but decompressible) header block in headerError, keeping the session', () => {
    const compressor = new HeaderCompressor();
    const decompressor = new HeaderDecompressor();
    // Uppercase name: the block is valid zlib, but not a valid SPDY header block.
    const block = Buffer.concat([h('00000001 00000004'), Buffer.from('Name'), h('00000001'), Buffer.from('v')]);
    const compressed = compressor.compress(block);
    const head = Buffer.alloc(8 + 4);
    head.writeUInt32BE(0x8003_0002, 0);
    head.writeUInt32BE(4 + compressed.length, 4);
    head.writeUInt32BE(3, 8);
    const bad = decodeOne(Buffer.concat([head, compressed]), decompressor);
    expect(bad).toMatchObject({ type: 'SYN_REPLY', streamId: 3, headers: {} });
    expect((bad as { headerError?: string }).headerError).toMatch(/not lowercase/);
    // The next block of the same context still decodes.
    const next = decodeOne(encodeFrame({ type: 'HEADERS', streamId: 3, fin: false, headers: { ok: 'yes' } }, compressor), decompressor);
    expect(plain(next)).toEqual({ type: 'HEADERS', streamId: 3, fin: false, headers: { ok: ['yes'] } });
  });

  it('refuses to encode out-of-range fields', () => {
    expect(() => encodeFrame({ type: 'PING', id: 0 })).toThrow(SpdyError);
    expect(() => encodeFrame({ type: 'RST_STREAM', streamId: 0, status: 1 })).toThrow(SpdyError);
    expect(() => encodeFrame({ type: 'RST_STREAM', streamId: 1, status: 0 })).toThrow(SpdyError);
    expect(() => encodeFrame({ type: 'WINDOW_UPDATE', streamId: 1, delta: 0 })).toThrow(SpdyError);
    expect(() => encodeFrame({ type: 'WINDOW_UPDATE', streamId: 1, delta: 0x8000_0000 })).toThrow(SpdyError);
    expect(() => encodeFrame({ type: 'DATA', streamId: 0x8000_0000, fin: false, data: Buffer.alloc(0) })).toThrow(SpdyError);
    expect(() =>
      encodeFrame(
        { type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 8, slot: 0, fin: false, unidirectional: false, headers: {} },
        new HeaderCompressor(),
      ),
    ).toThrow(SpdyError);
    // Header-bearing frames need the connection's compression context.
    expect(() => encodeFrame({ type: 'SYN_REPLY', streamId: 1, fin: false, headers: {} })).toThrow(/compressor/);
  });

  it('exposes the frame type numbers of the spec', () => {
    expect(FrameType).toEqual({
      SYN_STREAM: 1,
      SYN_REPLY: 2,
      RST_STREAM: 3,
      SETTINGS: 4,
      PING: 6,
      GOAWAY: 7,
      HEADERS: 8,
      WINDOW_UPDATE: 9,
    });
  });
});
