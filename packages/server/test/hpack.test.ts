import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { HpackDecoder, HpackError, encodeHeaderBlock, writeInt } from '../src/grpc-server/hpack';
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS, huffmanDecode } from '../src/grpc-server/huffman';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

function expectHpackError(fn: () => unknown, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(HpackError);
  expect((caught as Error).name).toBe('HpackError');
  if (message) expect((caught as Error).message).toMatch(message);
}

/** Huffman-codes bytes with the RFC table, padding with ones (test-side encoder; crisp never sends Huffman). */
function huffmanEncode(bytes: Uint8Array): Buffer {
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  const push = (code: number, len: number): void => {
    for (let i = len - 1; i >= 0; i--) {
      acc = (acc << 1) | ((code >>> i) & 1);
      if (++bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  };
  for (const b of bytes) push(HUFFMAN_CODES[b]!, HUFFMAN_LENGTHS[b]!);
  if (bits > 0) push(0xff, 8 - bits);
  return Buffer.from(out);
}

/** Deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomString(rand: () => number, length: number, lo: number, hi: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode(lo + Math.floor(rand() * (hi - lo + 1)));
  return s;
}

describe('Huffman code table (RFC 7541 Appendix B)', () => {
  it('has 257 symbols with lengths 5..30 and EOS last, all ones', () => {
    expect(HUFFMAN_CODES.length).toBe(257);
    expect(HUFFMAN_LENGTHS.length).toBe(257);
    for (let s = 0; s <= HUFFMAN_EOS; s++) {
      const len = HUFFMAN_LENGTHS[s]!;
      expect(len).toBeGreaterThanOrEqual(5);
      expect(len).toBeLessThanOrEqual(30);
      expect(HUFFMAN_CODES[s]! < 2 ** len).toBe(true);
    }
    expect(HUFFMAN_LENGTHS[HUFFMAN_EOS]).toBe(30);
    expect(HUFFMAN_CODES[HUFFMAN_EOS]).toBe(2 ** 30 - 1);
  });

  it('is complete: Kraft sum exactly 1', () => {
    let sum = 0;
    for (let s = 0; s <= HUFFMAN_EOS; s++) sum += 2 ** (30 - HUFFMAN_LENGTHS[s]!);
    expect(sum).toBe(2 ** 30);
  });

  it('is the canonical code for its lengths (codes ascend by length, then symbol)', () => {
    const order = Array.from({ length: 257 }, (_, s) => s).sort(
      (a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b,
    );
    let code = 0;
    let len = HUFFMAN_LENGTHS[order[0]!]!;
    for (const s of order) {
      code *= 2 ** (HUFFMAN_LENGTHS[s]! - len);
      len = HUFFMAN_LENGTHS[s]!;
      expect([s, HUFFMAN_CODES[s]]).toEqual([s, code]);
      code++;
    }
    expect(code).toBe(2 ** 30);
  });

  it('spot-checks entries against the RFC listing', () => {
    expect([HUFFMAN_CODES[0x30], HUFFMAN_LENGTHS[0x30]]).toEqual([0x0, 5]); // '0'
    expect([HUFFMAN_CODES[0x20], HUFFMAN_LENGTHS[0x20]]).toEqual([0x14, 6]); // ' '
    expect([HUFFMAN_CODES[0x5c], HUFFMAN_LENGTHS[0x5c]]).toEqual([0x7fff0, 19]); // '\'
    expect([HUFFMAN_CODES[0x0a], HUFFMAN_LENGTHS[0x0a]]).toEqual([0x3ffffffc, 30]); // LF
    expect([HUFFMAN_CODES[0xff], HUFFMAN_LENGTHS[0xff]]).toEqual([0x3ffffee, 26]);
  });
});

describe('huffmanDecode', () => {
  const decode = (b: Buffer): string | undefined => huffmanDecode(b, 0, b.length);

  it('decodes the RFC 7541 Appendix C strings', () => {
    const cases: Array<[string, string]> = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['25a8 49e9 5ba9 7d7f', 'custom-key'],
      ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
      ['9bd9 ab', 'gzip'],
      [
        '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
        'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
      ],
    ];
    for (const [h, s] of cases) {
      expect(decode(hex(h))).toBe(s);
      expect(huffmanEncode(Buffer.from(s, 'latin1')).toString('hex')).toBe(h.replace(/\s+/g, ''));
    }
  });

  it('decodes a sub-range of its input', () => {
    const b = Buffer.concat([Buffer.from([0xaa, 0xbb]), hex('9bd9 ab'), Buffer.from([0x00])]);
    expect(huffmanDecode(b, 2, 5)).toBe('gzip');
  });

  it('round-trips every byte value, alone and in random strings', () => {
    for (let b = 0; b < 256; b++) {
      expect(decode(huffmanEncode(Buffer.from([b])))).toBe(String.fromCharCode(b));
    }
    const rand = rng(7541);
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
      expect(decode(huffmanEncode(bytes))).toBe(bytes.toString('latin1'));
    }
    // Long enough to need more than the shared scratch space (and to grow it).
    const big = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 131) & 0xff));
    expect(decode(huffmanEncode(big))).toBe(big.toString('latin1'));
    expect(decode(Buffer.alloc(0))).toBe('');
  });

  it('accepts up to 7 bits of all-ones padding', () => {
    expect(decode(Buffer.from([0x1f]))).toBe('a'); // 00011 + 111
    expect(decode(Buffer.from([0xb9]))).toBe(':'); // 1011100 + 1
    expect(decode(Buffer.from([0x7f]))).toBe('9'); // 011111 + 11
    expect(decode(Buffer.from([0x00, 0x7f]))).toBe('01'); // 00000 + 00001 + 6 ones
  });

  it('rejects padding longer than 7 bits', () => {
    expect(decode(Buffer.from([0xff]))).toBeUndefined();
    expect(decode(Buffer.from([0x1f, 0xff]))).toBeUndefined(); // 'a' then 11 bits of ones
  });

  it('rejects padding that is not all ones', () => {
    expect(decode(Buffer.from([0x18]))).toBeUndefined(); // 'a' + 000
    expect(decode(Buffer.from([0x1e]))).toBeUndefined(); // 'a' + 110
    expect(decode(Buffer.from([0xfe]))).toBeUndefined();
  });

  it('rejects EOS inside a string', () => {
    expect(decode(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toBeUndefined(); // EOS + 2 bits of padding
    // 'a' (00011) then EOS (30 ones) then 5 bits of padding: 40 bits.
    expect(decode(Buffer.from([0x1f, 0xff, 0xff, 0xff, 0xff]))).toBeUndefined();
  });
});

describe('HPACK integers (RFC 7541 C.1)', () => {
  function enc(value: number, prefixBits: number, flags = 0): Buffer {
    const out = Buffer.alloc(8);
    return out.subarray(0, writeInt(out, 0, flags, prefixBits, value));
  }

  it('encodes the C.1 examples', () => {
    expect(enc(10, 5)).toEqual(Buffer.from([0x0a])); // C.1.1
    expect(enc(1337, 5)).toEqual(Buffer.from([0x1f, 0x9a, 0x0a])); // C.1.2
    expect(enc(42, 8)).toEqual(Buffer.from([0x2a])); // C.1.3
    expect(enc(31, 5)).toEqual(Buffer.from([0x1f, 0x00]));
    expect(enc(2 ** 31 - 1, 7, 0x80)).toEqual(Buffer.from([0xff, 0x80, 0xff, 0xff, 0xff, 0x07]));
  });

  it('decodes C.1.1 and C.1.2 as dynamic table size updates (5-bit prefix)', () => {
    // C.1.1: a table of 10 bytes holds nothing, so an added entry is gone at once.
    const d = new HpackDecoder();
    expect(d.decode(Buffer.from([0x20 | 0x0a, 0x41, 0x01, 0x78]))).toEqual([':authority', 'x']);
    expectHpackError(() => d.decode(Buffer.from([0xbe])), /beyond/);

    // C.1.2: 1337 bytes hold an entry of exactly 1337 bytes and not one byte more.
    const literal = (valueLength: number): Buffer =>
      Buffer.concat([Buffer.from([0x40, 0x01, 0x78]), enc(valueLength, 7), Buffer.alloc(valueLength, 0x79)]);
    const fits = new HpackDecoder();
    fits.decode(Buffer.concat([hex('3f9a0a'), literal(1337 - 32 - 1)]));
    expect(fits.decode(Buffer.from([0xbe]))).toEqual(['x', 'y'.repeat(1304)]);
    const over = new HpackDecoder();
    over.decode(Buffer.concat([hex('3f9a0a'), literal(1337 - 32)]));
    expectHpackError(() => over.decode(Buffer.from([0xbe])), /beyond/);
  });

  it('decodes multi-byte string lengths', () => {
    const value = 'v'.repeat(300);
    const block = Buffer.concat([Buffer.from([0x00, 0x01, 0x6e]), enc(300, 7), Buffer.from(value)]);
    expect(new HpackDecoder().decode(block)).toEqual(['n', value]);
  });
});

describe('HpackDecoder: RFC 7541 C.2 field representations', () => {
  it('C.2.1 literal with indexing adds to the table', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([
      'custom-key',
      'custom-header',
    ]);
    expect(d.decode(Buffer.from([0xbe]))).toEqual(['custom-key', 'custom-header']);
  });

  it('C.2.2 literal without indexing leaves the table alone', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([':path', '/sample/path']);
    expectHpackError(() => d.decode(Buffer.from([0xbe])));
  });

  it('C.2.3 literal never indexed leaves the table alone', () => {
    const d = new HpackDecoder();
    expect(d.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual(['password', 'secret']);
    expectHpackError(() => d.decode(Buffer.from([0xbe])));
  });

  it('C.2.4 indexed field from the static table', () => {
    expect(new HpackDecoder().decode(Buffer.from([0x82]))).toEqual([':method', 'GET']);
  });

  it('reads every static table entry', () => {
    const d = new HpackDecoder();
    const all = d.decode(Buffer.from(Array.from({ length: 61 }, (_, i) => 0x80 | (i + 1))));
    expect(all.length).toBe(122);
    expect(pairs(all).slice(0, 2)).toEqual([
      [':authority', ''],
      [':method', 'GET'],
    ]);
    expect(pairs(all)[15]).toEqual(['accept-encoding', 'gzip, deflate']);
    expect(pairs(all)[60]).toEqual(['www-authenticate', '']);
  });

  it('takes a Uint8Array that is not a Buffer', () => {
    const u8 = new Uint8Array(hex('040c 2f73 616d 706c 652f 7061 7468'));
    expect(new HpackDecoder().decode(u8)).toEqual([':path', '/sample/path']);
    expect(new HpackDecoder().decode(new Uint8Array(0))).toEqual([]);
  });
});

interface Step {
  block: string;
  headers: Array<[string, string]>;
  /** Dynamic table after the block, newest first: each entry is read back by its index. */
  table: Array<[string, string]>;
}

/** Runs blocks on one decoder, checking the list and the table (every index, and one past the end). */
function runSeries(maxTableSize: number, steps: Step[]): void {
  const d = new HpackDecoder({ maxTableSize });
  for (const step of steps) {
    expect(pairs(d.decode(hex(step.block)))).toEqual(step.headers);
    const probe = Buffer.from(step.table.map((_, i) => 0x80 | (62 + i)));
    expect(pairs(d.decode(probe))).toEqual(step.table);
    expectHpackError(() => d.decode(Buffer.from([0x80 | (62 + step.table.length)])), /beyond/);
  }
}

const C3_HEADERS: Array<Array<[string, string]>> = [
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ],
];
const C3_TABLES: Array<Array<[string, string]>> = [
  [[':authority', 'www.example.com']],
  [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
  [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
];

const C5_HEADERS: Array<Array<[string, string]>> = [
  [
    [':status', '302'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['location', 'https://www.example.com'],
  ],
  [
    [':status', '307'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['location', 'https://www.example.com'],
  ],
  [
    [':status', '200'],
    ['cache-control', 'private'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
    ['location', 'https://www.example.com'],
    ['content-encoding', 'gzip'],
    ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ],
];
const C5_TABLES: Array<Array<[string, string]>> = [
  [
    ['location', 'https://www.example.com'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['cache-control', 'private'],
    [':status', '302'],
  ],
  [
    [':status', '307'],
    ['location', 'https://www.example.com'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['cache-control', 'private'],
  ],
  [
    ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
    ['content-encoding', 'gzip'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
  ],
];

describe('HpackDecoder: RFC 7541 C.3-C.6 header block series', () => {
  it('C.3 requests without Huffman', () => {
    const blocks = [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ];
    runSeries(4096, blocks.map((block, i) => ({ block, headers: C3_HEADERS[i]!, table: C3_TABLES[i]! })));
  });

  it('C.4 requests with Huffman', () => {
    const blocks = [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ];
    runSeries(4096, blocks.map((block, i) => ({ block, headers: C3_HEADERS[i]!, table: C3_TABLES[i]! })));
  });

  it('C.5 responses without Huffman, 256-byte table with eviction', () => {
    const blocks = [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d`,
      '4803 3330 37c1 c0bf',
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31`,
    ];
    runSeries(256, blocks.map((block, i) => ({ block, headers: C5_HEADERS[i]!, table: C5_TABLES[i]! })));
  });

  it('C.6 responses with Huffman, 256-byte table with eviction', () => {
    const blocks = [
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      '4883 640e ffc1 c0bf',
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
       9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    ];
    runSeries(256, blocks.map((block, i) => ({ block, headers: C5_HEADERS[i]!, table: C5_TABLES[i]! })));
  });
});

describe('HpackDecoder: dynamic table', () => {
  it('a size update to 0 empties the table; several updates may open a block', () => {
    const d = new HpackDecoder();
    d.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
    expect(d.decode(Buffer.from([0xbe]))).toEqual([':authority', 'www.example.com']);
    expect(d.decode(Buffer.from([0x20, 0x3f, 0xe1, 0x1f]))).toEqual([]); // 0, then 4096
    expectHpackError(() => d.decode(Buffer.from([0xbe])), /beyond/);
  });

  it('a size update shrinks the table by evicting the oldest entries', () => {
    const d = new HpackDecoder();
    d.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d')); // 57 bytes
    d.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865')); // +53 = 110
    d.decode(Buffer.from([0x3f, 0x1f])); // 62: room for the newest only
    expect(d.decode(Buffer.from([0xbe]))).toEqual(['cache-control', 'no-cache']);
    expectHpackError(() => d.decode(Buffer.from([0xbf])), /beyond/);
  });

  it('an entry larger than the table empties it and is not added', () => {
    const d = new HpackDecoder({ maxTableSize: 64 });
    d.decode(Buffer.from([0x41, 0x01, 0x61])); // ':authority: a', 43 bytes
    expect(d.decode(Buffer.from([0xbe]))).toEqual([':authority', 'a']);
    const big = Buffer.concat([Buffer.from([0x41, 0x28]), Buffer.alloc(40, 0x62)]); // 82 bytes
    expect(d.decode(big)).toEqual([':authority', 'b'.repeat(40)]);
    expectHpackError(() => d.decode(Buffer.from([0xbe])), /beyond/);
  });

  it('wraps around its ring many times and keeps the newest entries', () => {
    const d = new HpackDecoder({ maxTableSize: 4096 });
    for (let i = 0; i < 1000; i++) {
      const v = String(i).padStart(4, '0'); // 'x' + 4 + 32 = 37 bytes: 110 fit in 4096
      d.decode(Buffer.concat([Buffer.from([0x40, 0x01, 0x78, 0x04]), Buffer.from(v)]));
    }
    expect(d.decode(Buffer.from([0xbe]))).toEqual(['x', '0999']);
    const oldest = 62 + 109;
    expect(d.decode(Buffer.concat([Buffer.from([0xff]), Buffer.from([oldest - 127])]))).toEqual(['x', '0890']);
    expectHpackError(() => d.decode(Buffer.from([0xff, oldest + 1 - 127])), /beyond/);
  });

  it('matches a plain model over random inserts, size updates and lookups (ring growth and wrap)', () => {
    const rand = rng(1234);
    const max = 16_384;
    const d = new HpackDecoder({ maxTableSize: max });
    let model: Array<[string, string]> = []; // newest first
    let limit = max;
    const size = (e: [string, string]): number => e[0].length + e[1].length + 32;
    const used = (): number => model.reduce((a, e) => a + size(e), 0);
    const enc = (value: number, prefixBits: number, flags: number): Buffer => {
      const out = Buffer.alloc(8);
      return out.subarray(0, writeInt(out, 0, flags, prefixBits, value));
    };
    for (let step = 0; step < 3000; step++) {
      const parts: Buffer[] = [];
      if (rand() < 0.03) {
        limit = Math.floor(rand() * (max + 1));
        parts.push(enc(limit, 5, 0x20));
        while (used() > limit) model.pop();
      }
      const entry: [string, string] = [`n${step % 7}`, 'v'.repeat(Math.floor(rand() * 120))];
      parts.push(Buffer.from([0x40, entry[0].length]), Buffer.from(entry[0]), enc(entry[1].length, 7, 0), Buffer.from(entry[1]));
      if (size(entry) > limit) model = [];
      else {
        while (used() + size(entry) > limit) model.pop();
        model.unshift(entry);
      }
      expect(d.decode(Buffer.concat(parts))).toEqual(entry);
      if (step % 50 === 0 || step > 2990) {
        const probe = Buffer.concat(model.map((_, i) => enc(62 + i, 7, 0x80)));
        expect(pairs(d.decode(probe))).toEqual(model);
        expectHpackError(() => d.decode(enc(62 + model.length, 7, 0x80)), /beyond/);
      }
    }
  });

  it('literal with a dynamic name index takes the name from the table', () => {
    const d = new HpackDecoder();
    d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'));
    expect(d.decode(Buffer.from([0x0f, 0x2f, 0x01, 0x7a]))).toEqual(['custom-key', 'z']); // index 62, 4-bit prefix
    expect(d.decode(Buffer.from([0x7e, 0x01, 0x77]))).toEqual(['custom-key', 'w']); // index 62, 6-bit prefix
    expect(d.decode(Buffer.from([0xbe]))).toEqual(['custom-key', 'w']);
  });

  it('keeps latin1 bytes as they are', () => {
    const value = Buffer.from([0x80, 0xa9, 0xff, 0x20, 0x41]);
    const block = Buffer.concat([Buffer.from([0x40, 0x01, 0x6b, value.length]), value]);
    const d = new HpackDecoder();
    expect(d.decode(block)).toEqual(['k', '\u0080\u00a9\u00ff A']);
    const huff = huffmanEncode(value);
    expect(d.decode(Buffer.concat([Buffer.from([0x00, 0x01, 0x6b, 0x80 | huff.length]), huff]))).toEqual([
      'k',
      '\u0080\u00a9\u00ff A',
    ]);
  });
});

describe('HpackDecoder: malformed input', () => {
  it('index 0', () => {
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0x80])), /index 0/);
  });

  it('indexes beyond the tables', () => {
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0xbe])), /beyond/);
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0xff, 0x80, 0x01])), /beyond/);
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0x7e, 0x01, 0x61])), /beyond/); // name index 62
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0x0f, 0x2f, 0x01, 0x61])), /beyond/);
  });

  it('a dynamic table size update after a field', () => {
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0x82, 0x20])), /size update/);
  });

  it('a dynamic table size update above the advertised size', () => {
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0x3f, 0xe2, 0x1f])), /4097/);
    expectHpackError(() => new HpackDecoder({ maxTableSize: 256 }).decode(Buffer.from([0x3f, 0xe2, 0x01])), /257/);
    expect(new HpackDecoder({ maxTableSize: 256 }).decode(Buffer.from([0x3f, 0xe1, 0x01]))).toEqual([]);
  });

  it('integer overflow and too many continuation bytes', () => {
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])), /overflow/);
    expectHpackError(
      () => new HpackDecoder().decode(Buffer.from([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])),
      /too long/,
    );
    expectHpackError(() => new HpackDecoder().decode(Buffer.from([0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f])), /overflow/);
  });

  it('truncated input', () => {
    const cases = [
      [0xff], // integer cut after its prefix
      [0xff, 0x80], // integer cut mid-continuation
      [0x40], // literal without its name
      [0x40, 0x01, 0x61], // literal without its value
      [0x40, 0x05, 0x61], // name shorter than its length
      [0x01, 0x85, 0x1f], // Huffman value shorter than its length
      [0x3f], // size update cut
    ];
    for (const c of cases) expectHpackError(() => new HpackDecoder().decode(Buffer.from(c)), /truncated/);
  });

  it('bad Huffman strings', () => {
    const d = new HpackDecoder();
    expectHpackError(() => d.decode(Buffer.from([0x01, 0x84, 0xff, 0xff, 0xff, 0xff])), /Huffman/); // EOS
    expectHpackError(() => d.decode(Buffer.from([0x01, 0x82, 0x1f, 0xff])), /Huffman/); // long padding
    expectHpackError(() => d.decode(Buffer.from([0x01, 0x81, 0x18])), /Huffman/); // zero padding
    expectHpackError(() => d.decode(Buffer.from([0x00, 0x81, 0xff, 0x00])), /Huffman/); // in a name
  });

  it('a header list over maxHeaderListBytes', () => {
    const d = new HpackDecoder({ maxHeaderListBytes: 100 });
    // 'k' + 67 bytes + 32 = 100: just fits.
    const field = (n: number): Buffer => Buffer.concat([Buffer.from([0x00, 0x01, 0x6b, n]), Buffer.alloc(n, 0x76)]);
    expect(d.decode(field(67))).toEqual(['k', 'v'.repeat(67)]);
    expectHpackError(() => d.decode(field(68)), /over 100/);
    // Counted over the whole list: 2 × (':method' 7 + 'GET' 3 + 32) = 84, then one more field.
    expect(d.decode(Buffer.from([0x82, 0x82]))).toEqual([':method', 'GET', ':method', 'GET']);
    expectHpackError(() => d.decode(Buffer.from([0x82, 0x82, 0x82])), /over 100/);
  });
});

describe('encodeHeaderBlock', () => {
  it('uses an indexed field for a full static match', () => {
    expect(encodeHeaderBlock([[':status', '200']])).toEqual(Buffer.from([0x88]));
    expect(encodeHeaderBlock([[':method', 'POST']])).toEqual(Buffer.from([0x83]));
    expect(encodeHeaderBlock([['accept-encoding', 'gzip, deflate']])).toEqual(Buffer.from([0x90]));
    expect(encodeHeaderBlock([['www-authenticate', '']])).toEqual(Buffer.from([0xbd]));
  });

  it('uses the static name index for a literal without indexing', () => {
    expect(encodeHeaderBlock([[':status', '201']])).toEqual(Buffer.from([0x08, 0x03, 0x32, 0x30, 0x31]));
    expect(encodeHeaderBlock([['content-type', 'application/grpc']])).toEqual(
      Buffer.concat([Buffer.from([0x0f, 0x10, 0x10]), Buffer.from('application/grpc')]),
    );
  });

  it('writes a new name for a literal without indexing otherwise', () => {
    expect(encodeHeaderBlock([['grpc-status', '0']])).toEqual(
      Buffer.concat([Buffer.from([0x00, 0x0b]), Buffer.from('grpc-status'), Buffer.from([0x01, 0x30])]),
    );
    expect(encodeHeaderBlock([])).toEqual(Buffer.alloc(0));
  });

  it('decodes back to the same list and leaves the decoder table empty', () => {
    const rand = rng(42);
    const headers: Array<[string, string]> = [
      [':status', '200'],
      [':status', '418'],
      ['content-type', 'application/grpc'],
      ['grpc-accept-encoding', 'identity,deflate,gzip'],
      ['grpc-message', 'x'.repeat(200)],
      ['x-bin', randomString(rand, 500, 0, 255)],
      ['x-empty', ''],
      ['', ''],
      ['x-long-name-' + 'n'.repeat(150), 'v'],
      ['cookie', 'a=b'],
      ['cookie', 'c=d'],
    ];
    const d = new HpackDecoder();
    expect(pairs(d.decode(encodeHeaderBlock(headers)))).toEqual(headers);
    expectHpackError(() => d.decode(Buffer.from([0xbe])), /beyond/);
    for (let i = 0; i < 50; i++) {
      const list: Array<[string, string]> = [];
      const n = Math.floor(rand() * 10);
      for (let j = 0; j < n; j++) {
        list.push([randomString(rand, 1 + Math.floor(rand() * 20), 0x61, 0x7a), randomString(rand, Math.floor(rand() * 300), 0, 255)]);
      }
      expect(pairs(d.decode(encodeHeaderBlock(list)))).toEqual(list);
    }
  });
});

// --- Cross-check with nghttp2, through Node's own HTTP/2 client ---

const FRAME_HEADERS = 0x1;
const FRAME_SETTINGS = 0x4;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
const PREFACE_LENGTH = 24;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

interface BlockStats {
  huffmanStrings: number;
  rawStrings: number;
  /** Per field, in order: how it was represented. */
  kinds: Array<'static' | 'dynamic' | 'incremental' | 'literal'>;
}

/** Walks a header block's representations (the test's own reading of §6) to see what nghttp2 sent. */
function blockStats(block: Buffer): BlockStats {
  const stats: BlockStats = { huffmanStrings: 0, rawStrings: 0, kinds: [] };
  let pos = 0;
  const int = (prefixBits: number): number => {
    const mask = (1 << prefixBits) - 1;
    let v = block[pos++]! & mask;
    if (v < mask) return v;
    for (let m = 1; ; m *= 128) {
      const b = block[pos++]!;
      v += (b & 0x7f) * m;
      if ((b & 0x80) === 0) return v;
    }
  };
  const str = (): void => {
    if (block[pos]! & 0x80) stats.huffmanStrings++;
    else stats.rawStrings++;
    const length = int(7);
    pos += length;
  };
  while (pos < block.length) {
    const b = block[pos]!;
    if (b & 0x80) {
      stats.kinds.push(int(7) > 61 ? 'dynamic' : 'static');
    } else if (b & 0x40) {
      if (int(6) === 0) str();
      str();
      stats.kinds.push('incremental');
    } else if (b & 0x20) {
      int(5);
    } else {
      if (int(4) === 0) str();
      str();
      stats.kinds.push('literal');
    }
  }
  return stats;
}

/**
 * A bare HTTP/2 server on 127.0.0.1: it decodes every request header block with one HpackDecoder and
 * answers each request with a HEADERS frame built by encodeHeaderBlock.
 */
async function rawServer(
  decoder: HpackDecoder,
  onRequest: (streamId: number, headers: string[], block: Buffer) => Array<[string, string]>,
): Promise<{ port: number; close(): Promise<void>; errors: unknown[]; continuations: () => number }> {
  const sockets = new Set<net.Socket>();
  const errors: unknown[] = [];
  let continuations = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    let block: { streamId: number; parts: Buffer[] } | undefined;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        if (!prefaceSeen) {
          if (buf.length < PREFACE_LENGTH) return;
          buf = buf.subarray(PREFACE_LENGTH);
          prefaceSeen = true;
          socket.write(frame(FRAME_SETTINGS, 0, 0, Buffer.alloc(0)));
          socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
        }
        while (buf.length >= 9) {
          const length = buf.readUIntBE(0, 3);
          if (buf.length < 9 + length) return;
          const type = buf[3]!;
          const flags = buf[4]!;
          const streamId = buf.readUInt32BE(5) & 0x7fffffff;
          let payload = buf.subarray(9, 9 + length);
          buf = buf.subarray(9 + length);
          if (type === FRAME_HEADERS) {
            let start = 0;
            let end = payload.length;
            if (flags & FLAG_PADDED) {
              end -= payload[0]!;
              start = 1;
            }
            if (flags & FLAG_PRIORITY) start += 5;
            payload = payload.subarray(start, end);
            block = { streamId, parts: [payload] };
          } else if (type === FRAME_CONTINUATION) {
            continuations++;
            block!.parts.push(payload);
          } else {
            continue;
          }
          if (flags & FLAG_END_HEADERS) {
            const whole = Buffer.concat(block!.parts);
            const headers = decoder.decode(whole);
            const id = block!.streamId;
            block = undefined;
            const reply = encodeHeaderBlock(onRequest(id, headers, whole));
            socket.write(frame(FRAME_HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, reply));
          }
        }
      } catch (err) {
        errors.push(err);
        socket.destroy();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    errors,
    continuations: () => continuations,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('cross-check with nghttp2 (node:http2 client)', () => {
  it('decodes what nghttp2 encodes across requests, and nghttp2 decodes what we encode', async () => {
    const decoder = new HpackDecoder({ maxHeaderListBytes: 1 << 20 });
    const received: string[][] = [];
    const stats: BlockStats[] = [];
    const server = await rawServer(decoder, (streamId, headers, block) => {
      received.push(headers);
      stats.push(blockStats(block));
      return [
        [':status', '200'],
        ['content-type', 'application/grpc'],
        ['x-stream', String(streamId)],
        ['x-latin1', '\u00e9t\u00e9 \u00ff\u0080'],
      ];
    });
    const client = http2.connect(`http://127.0.0.1:${server.port}`);
    client.on('error', () => undefined);
    try {
      await once(client, 'connect');
      const rand = rng(20261204);
      const sent: Array<Array<[string, string]>> = [];
      for (let i = 0; i < 24; i++) {
        const fields: Array<[string, string]> = [];
        // Printable ASCII of varied lengths; long ones make nghttp2 choose Huffman.
        const len = [0, 1, 7, 40, 101, 180, 300][i % 7]!;
        fields.push(['x-random', randomString(rand, len, 0x21, 0x7e)]);
        fields.push(['x-digits', randomString(rand, 20 + i, 0x30, 0x39)]);
        // The same header on every request: nghttp2 indexes it and refers to it afterwards.
        fields.push(['user-agent', 'crisp-hpack-test/1.0']);
        fields.push(['x-repeated', 'one'], ['x-repeated', 'two']);
        // Indexed by nghttp2, and together over the 4 KiB table: entries get evicted.
        fields.push(['x-mid', randomString(rand, 900 + 100 * (i % 6), 0x61, 0x7a)]);
        if (i % 5 === 0) fields.push(['x-big', randomString(rand, 5000, 0x61, 0x7a)]); // larger than the table
        if (i % 4 === 1) fields.push(['x-latin1', '\u00e9\u00e8 caf\u00e9 \u0080\u00ff ' + i]);
        if (i === 3) {
          // Over 16 KiB in all: the block spans HEADERS + CONTINUATION.
          for (let k = 0; k < 5; k++) fields.push([`x-huge-${k}`, randomString(rand, 4000, 0x21, 0x7e)]);
        }
        fields.push(['grpc-timeout', `${i}S`]);
        sent.push(fields);

        const reqHeaders: http2.OutgoingHttpHeaders = { ':method': 'GET', ':path': `/req/${i}` };
        for (const [name, value] of fields) {
          const prev = reqHeaders[name];
          reqHeaders[name] = prev === undefined ? value : ([] as string[]).concat(prev as string | string[], value);
        }
        const req = client.request(reqHeaders);
        const [resHeaders] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
        expect(resHeaders[':status']).toBe(200);
        expect(resHeaders['content-type']).toBe('application/grpc');
        expect(resHeaders['x-latin1']).toBe('\u00e9t\u00e9 \u00ff\u0080');
        req.resume();
        await once(req, 'close');
      }

      expect(server.errors).toEqual([]);
      expect(received.length).toBe(sent.length);
      // What nghttp2 sent covered the interesting cases.
      const sum = (f: (s: BlockStats) => number): number => stats.reduce((a, s) => a + f(s), 0);
      expect(sum((s) => s.huffmanStrings)).toBeGreaterThan(20);
      expect(sum((s) => s.rawStrings)).toBeGreaterThan(0);
      expect(sum((s) => s.kinds.filter((k) => k === 'dynamic').length)).toBeGreaterThan(20);
      expect(server.continuations()).toBeGreaterThan(0);
      expect(stats.map((s) => s.kinds.length * 2)).toEqual(received.map((r) => r.length));
      let indexedBytes = 0;
      stats.forEach((s, i) =>
        s.kinds.forEach((k, j) => {
          if (k === 'incremental') indexedBytes += received[i]![2 * j]!.length + received[i]![2 * j + 1]!.length + 32;
        }),
      );
      expect(indexedBytes).toBeGreaterThan(3 * 4096);
      for (let i = 0; i < sent.length; i++) {
        const got = pairs(received[i]!);
        expect(got.filter(([n]) => n.startsWith(':')).map(([n]) => n).sort()).toEqual([
          ':authority',
          ':method',
          ':path',
          ':scheme',
        ]);
        expect(got.find(([n]) => n === ':path')).toEqual([':path', `/req/${i}`]);
        expect(got.filter(([n]) => !n.startsWith(':'))).toEqual(sent[i]);
      }
    } finally {
      client.close();
      await once(client, 'close');
      await server.close();
    }
  }, 20_000);
});
