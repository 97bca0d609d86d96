// HTTP/2 framing of crisp's gRPC server (src/grpc-server/frames.ts).
import {
  ErrorCode,
  Flag,
  Frame,
  frame,
  FrameReader,
  frameHeader,
  FrameType,
  goawayFrame,
  headersFrames,
  Http2ProtocolError,
  pingAckFrame,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  unpad,
  windowUpdateFrame,
} from '../src/grpc-server/frames';

/** Every frame in `bytes`, read in one push. */
function readAll(bytes: Buffer, max = 16_384): Frame[] {
  const out: Frame[] = [];
  new FrameReader(max).push(bytes, (f) => out.push(f));
  return out;
}

const simple = (f: Frame): [number, number, number, string] => [f.type, f.flags, f.streamId, f.payload.toString('hex')];

describe('frame builders', () => {
  it('frame() writes the 9-byte header: 24-bit length, type, flags, 31-bit stream id', () => {
    const f = frame(FrameType.DATA, Flag.END_STREAM, 0x12345678, Buffer.from([0xaa, 0xbb]));
    expect(f.toString('hex')).toBe('000002' + '00' + '01' + '12345678' + 'aabb');
    // The reserved bit is never set.
    expect(frame(FrameType.DATA, 0, 0xffffffff).subarray(5).toString('hex')).toBe('7fffffff');
    expect(frameHeader(0x10203, FrameType.HEADERS, Flag.END_HEADERS, 3).toString('hex')).toBe('010203' + '01' + '04' + '00000003');
  });

  it('builds SETTINGS, WINDOW_UPDATE, RST_STREAM, GOAWAY and PING ack as RFC 9113 lays them out', () => {
    expect(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20], [Setting.ENABLE_PUSH, 0]]).toString('hex')).toBe(
      '00000c' + '04' + '00' + '00000000' + '0004' + '00100000' + '0002' + '00000000',
    );
    expect(SETTINGS_ACK.toString('hex')).toBe('000000' + '04' + '01' + '00000000');
    expect(windowUpdateFrame(5, 0x7fffffff).toString('hex')).toBe('000004' + '08' + '00' + '00000005' + '7fffffff');
    expect(rstStreamFrame(7, ErrorCode.CANCEL).toString('hex')).toBe('000004' + '03' + '00' + '00000007' + '00000008');
    expect(goawayFrame(9, ErrorCode.PROTOCOL_ERROR, 'bad').toString('hex')).toBe('00000b' + '07' + '00' + '00000000' + '00000009' + '00000001' + '626164');
    expect(pingAckFrame(Buffer.from('abcdefgh')).toString('hex')).toBe('000008' + '06' + '01' + '00000000' + Buffer.from('abcdefgh').toString('hex'));
  });
});

describe('headersFrames', () => {
  const block = Buffer.from(Array.from({ length: 100 }, (_, i) => i));

  it('sends a small block as one HEADERS with END_HEADERS (and END_STREAM when asked)', () => {
    expect(readAll(headersFrames(3, block, false, 16_384)).map(simple)).toEqual([[FrameType.HEADERS, Flag.END_HEADERS, 3, block.toString('hex')]]);
    expect(readAll(headersFrames(3, block, true, 16_384)).map((f) => f.flags)).toEqual([Flag.END_HEADERS | Flag.END_STREAM]);
  });

  it('splits a larger block into HEADERS then CONTINUATION frames; END_STREAM on the first, END_HEADERS on the last', () => {
    const frames = readAll(headersFrames(5, block, true, 30), 30);
    expect(frames.map((f) => [f.type, f.flags, f.streamId, f.payload.length])).toEqual([
      [FrameType.HEADERS, Flag.END_STREAM, 5, 30],
      [FrameType.CONTINUATION, 0, 5, 30],
      [FrameType.CONTINUATION, 0, 5, 30],
      [FrameType.CONTINUATION, Flag.END_HEADERS, 5, 10],
    ]);
    expect(Buffer.concat(frames.map((f) => f.payload)).equals(block)).toBe(true);
  });

  it('splits a block of exactly N frame sizes into N frames, and sends an empty block as one empty HEADERS', () => {
    expect(readAll(headersFrames(1, block, false, 50), 50).map((f) => [f.type, f.flags, f.payload.length])).toEqual([
      [FrameType.HEADERS, 0, 50],
      [FrameType.CONTINUATION, Flag.END_HEADERS, 50],
    ]);
    expect(readAll(headersFrames(1, Buffer.alloc(0), true, 50)).map(simple)).toEqual([[FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, '']]);
  });
});

describe('FrameReader', () => {
  const stream = Buffer.concat([
    frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(6, 1)),
    frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from('headers')),
    frame(FrameType.DATA, 0, 1, Buffer.alloc(0)),
    frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(300, 7)),
    frame(FrameType.PING, 0, 0, Buffer.from('12345678')),
  ]);
  const expected = readAll(stream).map(simple);

  it('reads coalesced frames from one chunk', () => {
    expect(expected.map((f) => f[0])).toEqual([FrameType.SETTINGS, FrameType.HEADERS, FrameType.DATA, FrameType.DATA, FrameType.PING]);
    expect(expected[1]).toEqual([FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from('headers').toString('hex')]);
  });

  it('reads the same frames from chunks split anywhere, byte by byte included', () => {
    for (const size of [1, 2, 3, 8, 9, 10, 17, 100]) {
      const reader = new FrameReader(16_384);
      const got: Frame[] = [];
      for (let at = 0; at < stream.length; at += size) reader.push(stream.subarray(at, at + size), (f) => got.push(f));
      expect([size, got.map(simple)]).toEqual([size, expected]);
    }
    // Every two-way split.
    for (let cut = 0; cut <= stream.length; cut++) {
      const reader = new FrameReader(16_384);
      const got: Frame[] = [];
      reader.push(stream.subarray(0, cut), (f) => got.push(f));
      reader.push(stream.subarray(cut), (f) => got.push(f));
      expect(got.map(simple)).toEqual(expected);
    }
  });

  it('takes a frame of exactly the maximum size and refuses one byte more with FRAME_SIZE_ERROR, from the header alone', () => {
    expect(readAll(frame(FrameType.DATA, 0, 1, Buffer.alloc(16_384))).length).toBe(1);
    const reader = new FrameReader(16_384);
    const header = frameHeader(16_385, FrameType.DATA, 0, 1);
    let error: unknown;
    try {
      reader.push(header, () => undefined);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Http2ProtocolError);
    expect((error as Http2ProtocolError).code).toBe(ErrorCode.FRAME_SIZE_ERROR);
  });

  it('masks the reserved bit of the stream id', () => {
    const f = frame(FrameType.DATA, 0, 1);
    f[5] |= 0x80;
    expect(readAll(f)[0]!.streamId).toBe(1);
  });
});

describe('unpad', () => {
  const padded = (flags: number, payload: number[]): Frame => ({ type: FrameType.DATA, flags, streamId: 1, payload: Buffer.from(payload) });

  it('returns the payload as it is without PADDED', () => {
    expect([...unpad(padded(0, [1, 2, 3]), 0)]).toEqual([1, 2, 3]);
  });

  it('removes the pad length and the padding', () => {
    expect([...unpad(padded(Flag.PADDED, [2, 9, 8, 7, 0, 0]), 0)]).toEqual([9, 8, 7]);
    expect([...unpad(padded(Flag.PADDED, [0, 9]), 0)]).toEqual([9]);
    expect([...unpad(padded(Flag.PADDED, [3, 0, 0, 0]), 0)]).toEqual([]);
  });

  it('skips the priority fields of HEADERS after the pad length', () => {
    expect([...unpad(padded(Flag.PADDED | Flag.PRIORITY, [1, 0, 0, 0, 3, 16, 0xaa, 0]), 5)]).toEqual([0xaa]);
    expect([...unpad(padded(Flag.PRIORITY, [0, 0, 0, 3, 16, 0xbb]), 5)]).toEqual([0xbb]);
  });

  it('refuses padding as long as the payload, and a padded frame without a pad length', () => {
    const fail = (f: Frame, extra: number): ErrorCode => {
      try {
        unpad(f, extra);
      } catch (err) {
        expect(err).toBeInstanceOf(Http2ProtocolError);
        return (err as Http2ProtocolError).code;
      }
      throw new Error('unpad accepted it');
    };
    expect(fail(padded(Flag.PADDED, [4, 0, 0, 0]), 0)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(fail(padded(Flag.PADDED, [1]), 0)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(fail(padded(Flag.PADDED, []), 0)).toBe(ErrorCode.FRAME_SIZE_ERROR);
    expect(fail(padded(Flag.PADDED | Flag.PRIORITY, [0, 0, 0, 0, 0]), 5)).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(fail(padded(Flag.PRIORITY, [0, 0, 0]), 5)).toBe(ErrorCode.PROTOCOL_ERROR);
  });
});
