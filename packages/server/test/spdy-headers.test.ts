import * as zlib from 'node:zlib';
import {
  HeaderCompressor,
  HeaderDecompressor,
  SPDY3_DICTIONARY,
  SpdyError,
  SpdyHeaderBlockError,
  SpdyProtocolError,
  decodeHeaderBlock,
  encodeHeaderBlock,
  headerValue,
} from '../src/streaming/spdy';
import type { SpdyHeadersInit } from '../src/streaming/spdy';

const { Z_SYNC_FLUSH } = zlib.constants;

/** Byte equality (jest's deep equality is very slow on large Buffers). */
function expectBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (const x of buf) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * The reference: ONE persistent zlib deflate stream primed with the dictionary, sync-flushed after
 * every block, as Go's spdy framer (compress/zlib, Flush()) and Chromium (Z_SYNC_FLUSH) do.
 */
async function referenceDeflate(blocks: Buffer[], level = zlib.constants.Z_BEST_COMPRESSION): Promise<Buffer[]> {
  const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level });
  const chunks: Buffer[] = [];
  deflate.on('data', (c: Buffer) => chunks.push(c));
  const out: Buffer[] = [];
  for (const block of blocks) {
    deflate.write(block);
    await new Promise<void>((resolve) => deflate.flush(Z_SYNC_FLUSH, () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
    out.push(Buffer.concat(chunks.splice(0)));
  }
  deflate.close();
  return out;
}

/** The reference inflater: one persistent zlib inflate stream fed every block in order. */
async function referenceInflate(blocks: Buffer[]): Promise<Buffer> {
  const inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  const chunks: Buffer[] = [];
  inflate.on('data', (c: Buffer) => chunks.push(c));
  for (const block of blocks) {
    inflate.write(block);
    await new Promise<void>((resolve) => inflate.flush(Z_SYNC_FLUSH, () => resolve()));
  }
  await new Promise((resolve) => setImmediate(resolve));
  inflate.close();
  return Buffer.concat(chunks);
}

/** Header sets like kubelet's, then larger, varied ones (long enough to slide past the 32 KiB window). */
function headerSets(): SpdyHeadersInit[] {
  const sets: SpdyHeadersInit[] = [
    { streamtype: 'error' },
    { streamtype: 'stdin' },
    { streamtype: 'stdout' },
    { streamtype: 'stderr' },
    { streamtype: 'resize' },
    { streamtype: 'data', port: '8080', requestid: '0' },
    { streamtype: 'error', port: '8080', requestid: '0' },
    {},
  ];
  let seed = 7;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 40; i++) {
    const value = Array.from({ length: 1500 }, () => String.fromCharCode(97 + (rand() % 26))).join('');
    sets.push({ 'x-block': String(i), 'x-payload': value, 'x-multi': ['one', 'two', value.slice(0, 50)] });
  }
  return sets;
}

describe('SPDY/3 dictionary', () => {
  it('is the 1423 bytes of the spec, with the zlib dictionary id 0xe3c6a7c2', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(adler32(SPDY3_DICTIONARY).toString(16)).toBe('e3c6a7c2');
    expect(SPDY3_DICTIONARY.subarray(0, 11)).toEqual(Buffer.from('\0\0\0\x07options', 'latin1'));
    expect(SPDY3_DICTIONARY.subarray(-13).toString('latin1')).toBe('utf-,*,enq=0.');
  });
});

describe('SPDY name/value header blocks', () => {
  it('encodes a count, then length-prefixed lowercase names and NUL-joined values', () => {
    const block = encodeHeaderBlock({ StreamType: 'stdout', port: 8080, multi: ['a', 'b'], skipped: undefined });
    const expected = Buffer.concat([
      Buffer.from([0, 0, 0, 3]),
      Buffer.from([0, 0, 0, 10]),
      Buffer.from('streamtype'),
      Buffer.from([0, 0, 0, 6]),
      Buffer.from('stdout'),
      Buffer.from([0, 0, 0, 4]),
      Buffer.from('port'),
      Buffer.from([0, 0, 0, 4]),
      Buffer.from('8080'),
      Buffer.from([0, 0, 0, 5]),
      Buffer.from('multi'),
      Buffer.from([0, 0, 0, 3]),
      Buffer.from('a\0b'),
    ]);
    expect(block).toEqual(expected);
  });

  it('round-trips, merging names that differ only in case into one multi-valued header', () => {
    const decoded = decodeHeaderBlock(encodeHeaderBlock({ A: '1', a: ['2', '3'], empty: '', 'x-utf8': 'é✓' }));
    expect({ ...decoded }).toEqual({ a: ['1', '2', '3'], empty: [''], 'x-utf8': ['é✓'] });
    expect(headerValue(decoded, 'A')).toBe('1');
    expect(headerValue(decoded, 'missing')).toBeUndefined();
    expect(Object.getPrototypeOf(decodeHeaderBlock(encodeHeaderBlock({ __proto__x: 'v' })))).toBeNull();
  });

  it('keeps header names such as __proto__ as plain keys', () => {
    const block = Buffer.concat([
      Buffer.from([0, 0, 0, 1, 0, 0, 0, 9]),
      Buffer.from('__proto__'),
      Buffer.from([0, 0, 0, 1]),
      Buffer.from('x'),
    ]);
    const decoded = decodeHeaderBlock(block);
    expect(decoded['__proto__']).toEqual(['x']);
    expect(Object.keys(decoded)).toEqual(['__proto__']);
  });

  it('refuses to encode what the wire cannot carry', () => {
    expect(() => encodeHeaderBlock({ '': 'x' })).toThrow(SpdyError);
    expect(() => encodeHeaderBlock({ 'a b': 'x' })).toThrow(SpdyError);
    expect(() => encodeHeaderBlock({ 'ünicode': 'x' })).toThrow(SpdyError);
    expect(() => encodeHeaderBlock({ a: 'x\0y' })).toThrow(SpdyError);
    expect(() => encodeHeaderBlock({ a: ['x', ''] })).toThrow(SpdyError);
  });

  const pair = (name: string, value: string): Buffer => {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    const b = Buffer.alloc(8 + n.length + v.length);
    b.writeUInt32BE(n.length, 0);
    n.copy(b, 4);
    b.writeUInt32BE(v.length, 4 + n.length);
    v.copy(b, 8 + n.length);
    return b;
  };
  const block = (count: number, ...pairs: Buffer[]): Buffer => {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(count);
    return Buffer.concat([c, ...pairs]);
  };

  it.each<[string, Buffer]>([
    ['no count', Buffer.from([0, 0])],
    ['a count larger than the block can hold', block(1000)],
    ['a truncated name', block(1, pair('abc', 'v').subarray(0, 6))],
    ['a truncated value', block(1, pair('abc', 'value').subarray(0, 14))],
    ['an empty name', block(1, pair('', 'v'))],
    ['an uppercase name', block(1, pair('Host', 'v'))],
    ['a name appearing twice', block(2, pair('a', '1'), pair('a', '2'))],
    ['an empty value among several', block(1, pair('a', 'x\0\0y'))],
    ['a value ending with NUL', block(1, pair('a', 'x\0'))],
    ['bytes after the last pair', Buffer.concat([block(1, pair('a', '1')), Buffer.from([0])])],
  ])('rejects a block with %s', (_name, bytes) => {
    expect(() => decodeHeaderBlock(bytes)).toThrow(SpdyHeaderBlockError);
  });
});

describe('SPDY header compression', () => {
  const blocks = headerSets().map((hs) => encodeHeaderBlock(hs));

  it('keeps one stateful context per direction across many blocks (later blocks reuse earlier ones)', () => {
    const compressor = new HeaderCompressor();
    const decompressor = new HeaderDecompressor();
    const sizes: number[] = [];
    for (const b of blocks) {
      const c = compressor.compress(b);
      expect(c.subarray(-4)).toEqual(Buffer.from([0, 0, 0xff, 0xff])); // sync flush
      sizes.push(c.length);
      expectBytes(decompressor.decompress(c), b);
    }
    // The repeated stdout/stderr blocks cost a few bytes: they refer back into the history.
    expect(sizes[2]).toBeLessThan(20);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThan(blocks.reduce((a, b) => a + b.length, 0) / 2);
  });

  it('decodes blocks compressed by a reference zlib stream (as Go and Chromium produce them)', async () => {
    for (const level of [zlib.constants.Z_BEST_COMPRESSION, zlib.constants.Z_BEST_SPEED, zlib.constants.Z_NO_COMPRESSION]) {
      const compressed = await referenceDeflate(blocks, level);
      const decompressor = new HeaderDecompressor();
      compressed.forEach((c, i) => expectBytes(decompressor.decompress(c), blocks[i]));
    }
  });

  it('produces blocks a reference zlib stream decodes in sequence', async () => {
    const compressor = new HeaderCompressor();
    const ours = blocks.map((b) => compressor.compress(b));
    expectBytes(await referenceInflate(ours), Buffer.concat(blocks));
  });

  it('produces the same bytes as a persistent deflater at the same level', async () => {
    const compressor = new HeaderCompressor(zlib.constants.Z_DEFAULT_COMPRESSION);
    const ours = blocks.slice(0, 12).map((b) => compressor.compress(b));
    const reference = await referenceDeflate(blocks.slice(0, 12), zlib.constants.Z_DEFAULT_COMPRESSION);
    expect(ours.length).toBe(reference.length);
    ours.forEach((o, i) => expectBytes(o, reference[i]));
  });

  it('bounds the decompressed size of a block (a session error)', () => {
    const big = encodeHeaderBlock({ a: 'x'.repeat(300_000) });
    const c = new HeaderCompressor().compress(big);
    expect(c.length).toBeLessThan(2000);
    const decompressor = new HeaderDecompressor(256 * 1024);
    expect(() => decompressor.decompress(c)).toThrow(/larger than 262144/);
    expectBytes(new HeaderDecompressor(512 * 1024).decompress(c), big);
  });

  it('treats a block without the sync flush, or corrupt data, as a session error that sticks', () => {
    const c = new HeaderCompressor().compress(encodeHeaderBlock({ a: 'b' }));
    expect(() => new HeaderDecompressor().decompress(c.subarray(0, c.length - 2))).toThrow(SpdyProtocolError);
    const decompressor = new HeaderDecompressor();
    expect(() => decompressor.decompress(Buffer.from([0x78, 0xbb, 1, 2, 3, 4, 0, 0, 0xff, 0xff]))).toThrow(SpdyProtocolError);
    // The shared state is gone: later blocks are refused too.
    expect(() => decompressor.decompress(c)).toThrow(SpdyProtocolError);
  });

  it('decodes a first block compressed without the dictionary', () => {
    const b = encodeHeaderBlock({ streamtype: 'stdout' });
    const plainZlib = zlib.deflateSync(b, { finishFlush: Z_SYNC_FLUSH });
    expectBytes(new HeaderDecompressor().decompress(plainZlib), b);
  });
});
