// SPDY/3 name/value header blocks (SYN_STREAM, SYN_REPLY, HEADERS) and their zlib compression.
//
// Block format (SPDY/3 §2.6.10): a 32-bit count of pairs, then per pair a 32-bit name length, the
// name (lowercase; a name appears once), a 32-bit value length and the value. Several values of
// one name travel as one value, NUL-separated (no empty value among several, none at either end).
//
// Compression (§2.6.10.1): each direction of a connection is ONE zlib stream, primed with the
// SPDY/3 dictionary below; every header block is compressed and then sync-flushed, so the block
// ends on a byte boundary with 00 00 ff ff and the receiver can inflate it at once. Later blocks
// refer back into earlier ones (and into the dictionary), so the contexts are stateful and must
// see every block of their direction, in order.
//
// How the stateful contexts are built on Node's zlib: Node has no synchronous call that keeps a
// zlib stream open across calls (zlib.*Sync() closes its engine; the stream classes are async,
// which would make frame encoding and decoding asynchronous and reorderable). But after a sync
// flush the only state a deflate stream carries into the next block is its history window, the
// last 32 KiB of uncompressed data (the bit buffer is empty, no block is open, and the Adler-32
// trailer is never reached because a SPDY header stream never ends). So each context keeps that
// window itself and codes every block with a fresh raw-deflate engine primed with it as a preset
// dictionary: deflateRawSync(block, { dictionary: window }) produces exactly the continuation a
// persistent deflater would (byte-identical in practice: see the tests), and
// inflateRawSync(block, { dictionary: window }) decodes a block from a persistent peer deflater.
// The first block of a direction carries the zlib header with the dictionary id (FDICT,
// Adler-32 0xe3c6a7c2): deflateSync/inflateSync with the SPDY dictionary handle it. The cost is
// priming a 32 KiB window per block; header blocks are a handful per exec or port-forward.
import * as zlib from 'node:zlib';
import { SpdyError, SpdyProtocolError } from './errors';

/** Decoded headers: lowercase name → values (a name sent with NUL-separated values has several). */
export type SpdyHeaders = Record<string, string[]>;

/** Headers to send: names are lowercased; a list becomes NUL-separated values; undefined is skipped. */
export type SpdyHeadersInit = Readonly<Record<string, string | number | readonly (string | number)[] | undefined>>;

// The SPDY/3 dictionary (SPDY Protocol draft 3, §2.6.10.1), 1423 bytes. Its first part is a run of
// header words, each preceded by its 32-bit length as in a header block; the rest is raw text.
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding',
  'accept-language', 'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection',
  'content-base', 'content-encoding', 'content-language', 'content-length', 'content-location',
  'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expect', 'expires', 'from', 'host',
  'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified',
  'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via',
  'warning', 'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url',
  'public', 'set-cookie', 'keep-alive', 'origin',
];
const DICTIONARY_TEXT =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request' +
  '401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented' +
  '503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ' +
  'Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,' +
  'application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=' +
  'gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

function buildDictionary(): Buffer {
  const parts: Buffer[] = [];
  for (const word of DICTIONARY_WORDS) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(word.length);
    parts.push(len, Buffer.from(word, 'latin1'));
  }
  parts.push(Buffer.from(DICTIONARY_TEXT, 'latin1'));
  return Buffer.concat(parts);
}

/** The SPDY/3 header compression dictionary (1423 bytes, zlib dictionary id 0xe3c6a7c2). */
export const SPDY3_DICTIONARY: Buffer = buildDictionary();

/** zlib's history window: what a later block can refer back to. */
const WINDOW_SIZE = 32 * 1024;
/** Every sync flush ends with an empty stored block: 00 00 ff ff. */
const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Default bound on one decompressed header block. */
export const DEFAULT_MAX_HEADER_BLOCK_SIZE = 256 * 1024;

function slide(window: Buffer, data: Buffer): Buffer {
  if (data.length >= WINDOW_SIZE) return Buffer.from(data.subarray(data.length - WINDOW_SIZE));
  const keep = Math.min(window.length, WINDOW_SIZE - data.length);
  return Buffer.concat([window.subarray(window.length - keep), data]);
}

/** The compressing side of one direction of a connection. */
export class HeaderCompressor {
  private window: Buffer = SPDY3_DICTIONARY;
  private started = false;

  constructor(private readonly level: number = zlib.constants.Z_DEFAULT_COMPRESSION) {}

  /** Compresses one (uncompressed) name/value block; the result is that block's bytes on the wire. */
  compress(block: Buffer): Buffer {
    const options: zlib.ZlibOptions = {
      level: this.level,
      dictionary: this.window,
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
    };
    // The first block opens the zlib stream (header with the dictionary id); later ones continue it.
    const out = this.started ? zlib.deflateRawSync(block, options) : zlib.deflateSync(block, options);
    this.started = true;
    this.window = slide(this.window, block);
    return out;
  }
}

/** The decompressing side of one direction of a connection. */
export class HeaderDecompressor {
  private window: Buffer = SPDY3_DICTIONARY;
  private started = false;
  private broken: SpdyProtocolError | null = null;

  constructor(private readonly maxBlockSize: number = DEFAULT_MAX_HEADER_BLOCK_SIZE) {}

  /**
   * Inflates one compressed header block. Any failure is a session error (the shared compression
   * state is lost: SPDY/3 §2.6.10.1), and the context refuses every later block.
   */
  decompress(data: Buffer): Buffer {
    if (this.broken) throw this.broken;
    try {
      if (data.length < SYNC_FLUSH_MARKER.length || !data.subarray(-4).equals(SYNC_FLUSH_MARKER)) {
        // Without the flush the block's last bits would stay in the peer's deflater: this side
        // could neither decode the whole block nor keep its state in step.
        throw new Error('header block does not end with a zlib sync flush');
      }
      const options: zlib.ZlibOptions = {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        maxOutputLength: this.maxBlockSize,
        dictionary: this.started ? this.window : SPDY3_DICTIONARY,
      };
      const out = this.started ? zlib.inflateRawSync(data, options) : zlib.inflateSync(data, options);
      this.started = true;
      this.window = slide(this.window, out);
      return out;
    } catch (err) {
      const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      this.broken = new SpdyProtocolError(
        tooLarge
          ? `header block larger than ${this.maxBlockSize} bytes once decompressed`
          : `cannot decompress header block: ${(err as Error).message}`,
        undefined,
        { cause: err },
      );
      throw this.broken;
    }
  }
}

/** A name/value block that decompressed but is malformed: a stream error (PROTOCOL_ERROR). */
export class SpdyHeaderBlockError extends SpdyError {
  override name = 'SpdyHeaderBlockError';
  constructor(message: string) {
    super(message, 'ERR_SPDY_HEADER_BLOCK');
  }
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** An empty headers object (no prototype: header names such as `__proto__` stay plain keys). */
export const emptyHeaders = (): SpdyHeaders => Object.create(null) as SpdyHeaders;

/** Serialises headers into an uncompressed name/value block. Throws SpdyError on invalid input. */
export function encodeHeaderBlock(headers: SpdyHeadersInit): Buffer {
  const merged = new Map<string, string[]>();
  for (const rawName of Object.keys(headers)) {
    const value = headers[rawName];
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    // Names are US-ASCII (§2.6.10) without NUL; the wire form is lowercase.
    if (name.length === 0 || !/^[\x21-\x7e]+$/.test(name)) {
      throw new SpdyError(`invalid SPDY header name ${JSON.stringify(rawName)}`);
    }
    const values = (Array.isArray(value) ? value : [value]).map(String);
    for (const v of values) {
      if (v.includes('\0')) throw new SpdyError(`SPDY header ${name} has a value containing NUL`);
    }
    const list = merged.get(name) ?? [];
    list.push(...values);
    merged.set(name, list);
  }
  const pairs: Buffer[] = [];
  for (const [name, values] of merged) {
    if (values.length > 1 && values.some((v) => v.length === 0)) {
      throw new SpdyError(`SPDY header ${name} has an empty value among several`);
    }
    pairs.push(lengthPrefixed(Buffer.from(name, 'latin1')), lengthPrefixed(Buffer.from(values.join('\0'), 'utf8')));
  }
  const count = Buffer.alloc(4);
  count.writeUInt32BE(merged.size);
  return Buffer.concat([count, ...pairs]);
}

function lengthPrefixed(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeUInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

/** Parses an uncompressed name/value block. Throws SpdyHeaderBlockError if it is malformed. */
export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  const fail = (why: string): never => {
    throw new SpdyHeaderBlockError(`malformed SPDY header block: ${why}`);
  };
  if (block.length < 4) fail('shorter than its pair count');
  const count = block.readUInt32BE(0);
  // Every pair takes at least 8 bytes: a count beyond that cannot be honest (and must not drive a loop).
  if (count > (block.length - 4) / 8) fail(`${count} pairs cannot fit in ${block.length} bytes`);
  const headers = emptyHeaders();
  let off = 4;
  const field = (what: string): Buffer => {
    if (off + 4 > block.length) fail(`truncated ${what} length`);
    const len = block.readUInt32BE(off);
    off += 4;
    if (off + len > block.length) fail(`truncated ${what}`);
    const b = block.subarray(off, off + len);
    off += len;
    return b;
  };
  for (let i = 0; i < count; i++) {
    const name = field('name').toString('latin1');
    if (name.length === 0) fail('empty header name');
    if (name !== name.toLowerCase()) fail(`header name ${JSON.stringify(name)} is not lowercase`);
    if (name.includes('\0')) fail('header name contains NUL');
    if (hasOwn(headers, name)) fail(`header ${name} appears twice`);
    const raw = field('value').toString('utf8');
    const values = raw.split('\0');
    if (values.length > 1 && values.some((v) => v.length === 0)) fail(`header ${name} has an empty value among several`);
    headers[name] = values;
  }
  if (off !== block.length) fail(`${block.length - off} bytes after the last pair`);
  return headers;
}

/** The first value of a header (names are matched lowercase), or undefined. */
export function headerValue(headers: SpdyHeaders, name: string): string | undefined {
  const key = name.toLowerCase();
  return hasOwn(headers, key) ? headers[key][0] : undefined;
}
