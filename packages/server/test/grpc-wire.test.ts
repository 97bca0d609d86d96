// The data-only parts of crisp's gRPC server (src/grpc-server/wire.ts).
import { Metadata, Status } from 'nice-grpc-common';
import { HpackDecoder } from '../src/grpc-server/hpack';
import {
  encodeGrpcMessage,
  httpStatusOnly,
  messagePrefix,
  metadataFromHeaders,
  metadataToFields,
  OK_TRAILERS,
  parseGrpcTimeout,
  RESPONSE_HEADERS,
  responseHeaders,
  singleMessage,
  statusTrailers,
} from '../src/grpc-server/wire';

/** The inverse of grpc-message's percent-encoding, as grpc-js does it. */
const decodeGrpcMessage = (s: string): string => decodeURIComponent(s);

describe('parseGrpcTimeout', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['250m', 250],
    ['1500u', 1.5],
    ['2000000n', 2],
    ['0S', 0],
    ['99999999S', 99_999_999_000],
    ['00000010m', 10],
  ])('%s is %d ms', (value, ms) => {
    expect(parseGrpcTimeout(value)).toBeCloseTo(ms, 9);
  });

  it.each(['', 'S', '1', '123456789S', '1s', '1h', '-1S', '+1S', '1.5S', ' 1S', '1S ', '1 S', '1SS', '0x10S', '１S'])('%j is malformed', (value) => {
    expect(parseGrpcTimeout(value)).toBeUndefined();
  });
});

describe('encodeGrpcMessage', () => {
  it('leaves printable ASCII as it is', () => {
    const plain = 'container "abc" not found: ~!@#$^&*()_+{}|:<>?';
    expect(encodeGrpcMessage(plain)).toBe(plain);
  });

  it('percent-encodes %, control characters and UTF-8 bytes, with uppercase hex', () => {
    expect(encodeGrpcMessage('100%')).toBe('100%25');
    expect(encodeGrpcMessage('a\nb\tc\r')).toBe('a%0Ab%09c%0D');
    expect(encodeGrpcMessage('ü')).toBe('%C3%BC');
    expect(encodeGrpcMessage('✓')).toBe('%E2%9C%93');
    expect(encodeGrpcMessage('\x7f')).toBe('%7F');
  });

  it('round-trips through percent-decoding', () => {
    for (const s of ['', 'plain', '100% ü\n✓ «»', '%41 is not A', '😀 emoji', 'a'.repeat(1000) + '%']) {
      const encoded = encodeGrpcMessage(s);
      expect(encoded).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeGrpcMessage(encoded)).toBe(s);
    }
  });
});

describe('messagePrefix and singleMessage', () => {
  const msg = (body: Buffer, flag = 0): Buffer => {
    const prefix = messagePrefix(body.length);
    prefix[0] = flag;
    return Buffer.concat([prefix, body]);
  };

  it('messagePrefix is a 0 flag and a big-endian length', () => {
    expect([...messagePrefix(0x01020304)]).toEqual([0, 1, 2, 3, 4]);
    expect([...messagePrefix(0)]).toEqual([0, 0, 0, 0, 0]);
  });

  it('takes one message, whole or in chunks split anywhere', () => {
    const body = Buffer.from('hello world');
    const whole = msg(body);
    for (let cut = 0; cut <= whole.length; cut++) {
      const chunks = [whole.subarray(0, cut), whole.subarray(cut)];
      const m = singleMessage(chunks, whole.length);
      expect(m).toEqual({ compressed: false, body });
    }
    const bytewise = [...whole].map((b) => Buffer.from([b]));
    expect(singleMessage(bytewise, whole.length)).toEqual({ compressed: false, body });
  });

  it('takes an empty message and a compressed one', () => {
    expect(singleMessage([msg(Buffer.alloc(0))], 5)).toEqual({ compressed: false, body: Buffer.alloc(0) });
    expect(singleMessage([msg(Buffer.from('z'), 1)], 6)).toEqual({ compressed: true, body: Buffer.from('z') });
  });

  it('gives a reason for what is not exactly one message', () => {
    const one = msg(Buffer.from('abc'));
    const cases: Array<[Buffer[], RegExp]> = [
      [[], /no message/],
      [[one.subarray(0, 3)], /inside a message prefix/],
      [[one.subarray(0, 6)], /ends inside a message/],
      [[one, one], /more than one message/],
      [[Buffer.concat([one, Buffer.from([0])])], /more than one message/],
      [[msg(Buffer.from('abc'), 2)], /flag 2/],
      [[msg(Buffer.from('abc'), 0x80)], /flag 128/],
    ];
    for (const [chunks, reason] of cases) {
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const m = singleMessage(chunks, total);
      expect(typeof m).toBe('string');
      expect(m).toMatch(reason);
    }
  });

  it('does not read a length of 2^32-1 as a short message', () => {
    const prefix = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    expect(singleMessage([prefix, Buffer.from('abc')], 8)).toMatch(/ends inside a message/);
  });
});

describe('metadata', () => {
  it('takes custom headers, decodes -bin values (padded or not, comma-separated), and leaves transport headers out', () => {
    const headers = [
      ':method', 'POST',
      ':path', '/a.B/C',
      ':authority', 'localhost',
      ':scheme', 'http',
      'content-type', 'application/grpc',
      'te', 'trailers',
      'grpc-timeout', '1S',
      'grpc-encoding', 'gzip',
      'grpc-accept-encoding', 'identity,gzip',
      'user-agent', 'grpc-go/1.60',
      'x-custom', 'one',
      'x-custom', 'two',
      'x-data-bin', Buffer.from([0, 1, 2, 255]).toString('base64'),
      'x-nopad-bin', Buffer.from([250, 251]).toString('base64').replace(/=+$/, ''),
      'x-multi-bin', `${Buffer.from([1]).toString('base64')},${Buffer.from([2, 3]).toString('base64')}`,
    ];
    const md = metadataFromHeaders(headers);
    const keys = [...md].map(([k]) => k).sort();
    expect(keys).toEqual(['user-agent', 'x-custom', 'x-data-bin', 'x-multi-bin', 'x-nopad-bin']);
    // nice-grpc's Metadata joins repeated text values, as nice-grpc does with grpc-js metadata.
    expect(md.getAll('x-custom')).toEqual(['one, two']);
    expect([...(md.get('x-data-bin') as Uint8Array)]).toEqual([0, 1, 2, 255]);
    expect([...(md.get('x-nopad-bin') as Uint8Array)]).toEqual([250, 251]);
    expect((md.getAll('x-multi-bin') as Uint8Array[]).map((b) => [...b])).toEqual([[1], [2, 3]]);
  });

  it('turns metadata into fields with -bin values in base64', () => {
    const md = Metadata({ 'x-a': 'v', 'x-b-bin': Uint8Array.from([0, 255]) });
    md.append('x-b-bin', Uint8Array.from([1]));
    expect(metadataToFields(md)).toEqual([
      ['x-a', 'v'],
      ['x-b-bin', 'AP8='],
      ['x-b-bin', 'AQ=='],
    ]);
    expect(metadataToFields(undefined)).toEqual([]);
  });

  it('round-trips -bin metadata through fields', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const fields = metadataToFields(Metadata({ 'k-bin': bytes }));
    const back = metadataFromHeaders(fields.flat());
    expect([...(back.get('k-bin') as Uint8Array)]).toEqual([...bytes]);
  });
});

describe('response header blocks', () => {
  const decode = (block: Uint8Array): string[] => new HpackDecoder().decode(block);
  const pairs = (flat: string[]): Array<[string, string]> => {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
    return out;
  };

  it('response headers are :status 200 and application/grpc, with custom metadata after', () => {
    expect(pairs(decode(RESPONSE_HEADERS)).slice(0, 2)).toEqual([
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ]);
    expect(responseHeaders(undefined)).toBe(RESPONSE_HEADERS);
    expect(responseHeaders(Metadata())).toBe(RESPONSE_HEADERS);
    const custom = pairs(decode(responseHeaders(Metadata({ 'x-h': 'v' }))));
    expect(custom[0]).toEqual([':status', '200']);
    expect(custom).toContainEqual(['x-h', 'v']);
  });

  it('OK trailers are grpc-status 0 alone', () => {
    expect(decode(OK_TRAILERS)).toEqual(['grpc-status', '0']);
    expect(statusTrailers(Status.OK, '', undefined, false)).toBe(OK_TRAILERS);
  });

  it('status trailers carry the code, the encoded message and trailer metadata; trailers-only adds the response headers', () => {
    const t = pairs(decode(statusTrailers(Status.NOT_FOUND, 'gone 100%', Metadata({ 'x-t': 'v' }), false)));
    expect(t).toEqual([
      ['grpc-status', '5'],
      ['grpc-message', 'gone 100%25'],
      ['x-t', 'v'],
    ]);
    const only = pairs(decode(statusTrailers(Status.UNIMPLEMENTED, 'no', undefined, true)));
    expect(only.slice(0, 2)).toEqual([
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ]);
    expect(only).toContainEqual(['grpc-status', '12']);
    expect(only).toContainEqual(['grpc-message', 'no']);
    // A trailers-only OK (a streaming call that sent nothing) still has its headers.
    const okOnly = pairs(decode(statusTrailers(Status.OK, '', undefined, true)));
    expect(okOnly[0]).toEqual([':status', '200']);
    expect(okOnly).toContainEqual(['grpc-status', '0']);
  });

  it('httpStatusOnly is just :status', () => {
    expect(decode(httpStatusOnly(405))).toEqual([':status', '405']);
    expect(decode(httpStatusOnly(415))).toEqual([':status', '415']);
  });
});
