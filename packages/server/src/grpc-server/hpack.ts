// HPACK (RFC 7541): a decoder that keeps the peer's dynamic table, and a stateless encoder.

import { huffmanDecode } from './huffman';

/** Malformed or over-limit header block: a COMPRESSION_ERROR for the connection (RFC 9113 §4.3). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

/** RFC 7541 Appendix A, index 1 first. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_COUNT = STATIC_TABLE.length;
// Flat copies, index 0 unused, so a lookup is one array read.
const STATIC_NAMES: readonly string[] = ['', ...STATIC_TABLE.map((e) => e[0])];
const STATIC_VALUES: readonly string[] = ['', ...STATIC_TABLE.map((e) => e[1])];

/** RFC 7541 §4.1: the size an entry counts for in the dynamic table. */
const ENTRY_OVERHEAD = 32;
const DEFAULT_TABLE_SIZE = 4096;
const DEFAULT_MAX_HEADER_LIST_BYTES = 65_536;
/** Integers above this cannot be a sane length, index or table size; refusing them keeps the
 *  arithmetic within small integers. */
const MAX_INT = 0x7fffffff;
/** Ring slots to start with: 4096 / 32, enough for the default table size. */
const INITIAL_SLOTS = 128;

export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListBytes: number;
  /** The table size the peer's encoder currently uses, set by dynamic table size updates. */
  private tableLimit: number;
  private tableBytes = 0;
  // The dynamic table as a ring buffer, newest entry at `head`. Each entry takes at least 32 bytes, so
  // it needs at most maxTableSize / 32 slots; it starts with fewer and doubles when full.
  private names: string[];
  private values: string[];
  private capacity: number;
  private head = 0;
  private count = 0;
  /** Read position in the block being decoded. */
  private pos = 0;

  constructor(options: { maxTableSize?: number; maxHeaderListBytes?: number } = {}) {
    this.maxTableSize = options.maxTableSize ?? DEFAULT_TABLE_SIZE;
    this.maxHeaderListBytes = options.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST_BYTES;
    if (!Number.isInteger(this.maxTableSize) || this.maxTableSize < 0 || this.maxTableSize > MAX_INT) {
      throw new RangeError(`invalid HPACK table size ${this.maxTableSize}`);
    }
    this.tableLimit = this.maxTableSize;
    this.capacity = Math.max(1, Math.min(INITIAL_SLOTS, Math.floor(this.maxTableSize / ENTRY_OVERHEAD)));
    this.names = new Array<string>(this.capacity).fill('');
    this.values = new Array<string>(this.capacity).fill('');
  }

  /** Decodes one complete header block into [name0, value0, name1, value1, ...]. */
  decode(input: Uint8Array): string[] {
    // Strings are sliced out with Buffer's latin1 decoding; the connection passes Buffers already.
    const block = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const out: string[] = [];
    const end = block.length;
    let listBytes = 0;
    let fieldsSeen = false;
    this.pos = 0;
    while (this.pos < end) {
      const first = block[this.pos]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed field (§6.1).
        const index = this.readInt(block, 7);
        if (index === 0) throw new HpackError('HPACK: index 0');
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const slot = this.dynamicSlot(index);
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if (first & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = this.readInt(block, 6);
        name = index === 0 ? this.readString(block) : this.nameAt(index);
        value = this.readString(block);
        this.insert(name, value);
      } else if (first & 0x20) {
        // Dynamic table size update (§6.3): only before the first field of a block (§4.2).
        if (fieldsSeen) throw new HpackError('HPACK: table size update after a header field');
        const size = this.readInt(block, 5);
        if (size > this.maxTableSize) {
          throw new HpackError(`HPACK: table size update to ${size}, above the ${this.maxTableSize} allowed`);
        }
        this.tableLimit = size;
        this.evictTo(size);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001) (§6.2.2, §6.2.3): alike to a decoder.
        const index = this.readInt(block, 4);
        name = index === 0 ? this.readString(block) : this.nameAt(index);
        value = this.readString(block);
      }
      fieldsSeen = true;
      listBytes += name.length + value.length + ENTRY_OVERHEAD;
      if (listBytes > this.maxHeaderListBytes) {
        throw new HpackError(`HPACK: header list over ${this.maxHeaderListBytes} bytes`);
      }
      out.push(name, value);
    }
    return out;
  }

  /** Integer with an N-bit prefix (§5.1), starting at the current position. */
  private readInt(block: Buffer, prefixBits: number): number {
    const end = block.length;
    const mask = (1 << prefixBits) - 1;
    let value = block[this.pos++]! & mask;
    if (value < mask) return value;
    // 5 continuation bytes carry 35 bits, more than MAX_INT needs; a sixth is never needed.
    for (let shift = 0; shift <= 28; shift += 7) {
      if (this.pos >= end) throw new HpackError('HPACK: truncated integer');
      const b = block[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INT) throw new HpackError('HPACK: integer overflow');
      if ((b & 0x80) === 0) return value;
    }
    throw new HpackError('HPACK: integer too long');
  }

  /** String literal (§5.2), latin1. */
  private readString(block: Buffer): string {
    if (this.pos >= block.length) throw new HpackError('HPACK: truncated header field');
    const huffman = (block[this.pos]! & 0x80) !== 0;
    const length = this.readInt(block, 7);
    const start = this.pos;
    if (length > block.length - start) throw new HpackError('HPACK: truncated string');
    this.pos = start + length;
    if (huffman) {
      const s = huffmanDecode(block, start, start + length);
      if (s === undefined) throw new HpackError('HPACK: invalid Huffman string');
      return s;
    }
    return block.toString('latin1', start, start + length);
  }

  private nameAt(index: number): string {
    return index <= STATIC_COUNT ? STATIC_NAMES[index]! : this.names[this.dynamicSlot(index)]!;
  }

  /** Ring slot of dynamic table index (62 is the newest entry). */
  private dynamicSlot(index: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.count) throw new HpackError(`HPACK: index ${index} beyond the tables`);
    const slot = this.head + i;
    return slot >= this.capacity ? slot - this.capacity : slot;
  }

  /** Adds an entry (§4.4): evicts oldest entries to make room; one larger than the table empties it. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.tableLimit) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.tableLimit - size);
    if (this.count === this.capacity) this.grow();
    this.head = this.head === 0 ? this.capacity - 1 : this.head - 1;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.tableBytes += size;
  }

  /** Doubles the ring, entries copied newest first from slot 0. */
  private grow(): void {
    const capacity = this.capacity * 2;
    const names = new Array<string>(capacity).fill('');
    const values = new Array<string>(capacity).fill('');
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) % this.capacity;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.capacity = capacity;
    this.head = 0;
  }

  private evictTo(limit: number): void {
    while (this.tableBytes > limit) {
      let slot = this.head + this.count - 1;
      if (slot >= this.capacity) slot -= this.capacity;
      this.tableBytes -= this.names[slot]!.length + this.values[slot]!.length + ENTRY_OVERHEAD;
      // Dropped so the table does not keep old strings alive.
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }
}

// Encoder lookups: name -> static index of its first entry, and name -> value -> index for full matches.
const STATIC_NAME_INDEX = new Map<string, number>();
const STATIC_FIELD_INDEX = new Map<string, Map<string, number>>();
for (let i = STATIC_COUNT; i >= 1; i--) {
  const name = STATIC_NAMES[i]!;
  STATIC_NAME_INDEX.set(name, i);
  let byValue = STATIC_FIELD_INDEX.get(name);
  if (!byValue) STATIC_FIELD_INDEX.set(name, (byValue = new Map()));
  byValue.set(STATIC_VALUES[i]!, i);
}

/**
 * Encodes a header block without touching the peer's dynamic table and without Huffman coding:
 * a full static match is an indexed field, anything else a literal without indexing (with the static
 * name index when there is one). Names must already be lowercase; strings are written as latin1.
 */
export function encodeHeaderBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  let total = 0;
  for (const [name, value] of headers) {
    const full = STATIC_FIELD_INDEX.get(name)?.get(value);
    if (full !== undefined) {
      total += intLength(full, 7);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    total += nameIndex !== undefined ? intLength(nameIndex, 4) : 1 + intLength(name.length, 7) + name.length;
    total += intLength(value.length, 7) + value.length;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const [name, value] of headers) {
    const full = STATIC_FIELD_INDEX.get(name)?.get(value);
    if (full !== undefined) {
      pos = writeInt(out, pos, 0x80, 7, full);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) {
      pos = writeInt(out, pos, 0x00, 4, nameIndex);
    } else {
      out[pos++] = 0x00;
      pos = writeInt(out, pos, 0x00, 7, name.length);
      pos += out.write(name, pos, 'latin1');
    }
    pos = writeInt(out, pos, 0x00, 7, value.length);
    pos += out.write(value, pos, 'latin1');
  }
  return out;
}

function intLength(value: number, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) return 1;
  let n = 2;
  for (let rest = value - mask; rest >= 0x80; rest = Math.floor(rest / 128)) n++;
  return n;
}

/** Writes an integer with an N-bit prefix (§5.1) at `pos`; `flags` are the bits above the prefix.
 *  Returns the position after it. Exported for the tests of the integer coding. */
export function writeInt(out: Buffer, pos: number, flags: number, prefixBits: number, value: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | mask;
  let rest = value - mask;
  while (rest >= 0x80) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[pos++] = rest;
  return pos;
}
