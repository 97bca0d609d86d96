// The CRI container log format kubelet reads (`kubectl logs`), as pure functions:
//
//   2016-10-06T00:17:09.669794202Z stdout F the line
//   <RFC3339Nano UTC> <stdout|stderr> <F|P> <content>\n
//
// One record per line of container output, without its line ending. A line longer than
// `maxLineBytes` (kubelet/containerd default 16 KiB) becomes `P` (partial) records of exactly that
// many bytes followed by one `F` (full) record with the rest (1..maxLineBytes bytes). kubelet
// prints an `F` record's content plus "\n" and a `P` record's content as is, so the container's
// bytes come back unchanged.
//
// Decisions (checked against containerd's pkg/cri/io/logger.go and kubelet's
// pkg/kubelet/kuberuntime/logs/logs.go):
// - Line ending: "\n", and a "\r" directly before it ("\r\n") is dropped too, as containerd does
//   (TTY output ends lines with "\r\n"). A lone "\r" elsewhere is content.
// - Limit: a line is split only when it is *longer* than maxLineBytes: exactly maxLineBytes bytes
//   is one `F`; maxLineBytes + 1 is `P`(max) + `F`(1). The limit counts content bytes (after the
//   line ending is stripped) and cuts at byte boundaries (a UTF-8 character may be split across
//   two records; kubelet rejoins the bytes).
// - Trailing data without a newline when the stream ends is written as `P`, as containerd does
//   (its readLine: "a message that doesn't end with a newline is treated as a partial line"):
//   the output really ended without a newline, and `kubectl logs` then reproduces it exactly
//   instead of inventing one. `trailingTag: 'F'` is available for consumers that prefer it.
// - Timestamps: always UTC with 'Z' and always 9 fractional digits (fixed width, like kubelet's
//   own RFC3339NanoFixed output). Go's time.RFC3339Nano, which containerd uses, trims trailing
//   zeros (".5Z", or no fraction at all) and uses the local offset; kubelet parses with
//   RFC3339NanoLenient and accepts both. Fixed width keeps records aligned and makes the text order
//   of timestamps equal their time order (tail/grep/sort-friendly).
// - Clock: nanoTime() below: the wall clock at nanosecond resolution, strictly increasing within
//   the process. CriLogEncoder stamps all records completed by one read with one timestamp (they
//   arrived together; one clock read and one formatted header per read, not per line), so
//   timestamps never decrease in file order, across both streams.

/** The stream a record came from. TTY containers have only `stdout`. */
export type LogStream = 'stdout' | 'stderr';

/** `F`: the record ends a line; `P`: a piece of a longer line (or output that ended without "\n"). */
export type LogTag = 'F' | 'P';

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

const NS_PER_SEC = 1_000_000_000n;
const NS_PER_MS = 1_000_000n;

// ---------------------------------------------------------------------------------------------
// nanoTime

/** Re-check the wall clock (Date.now()) at most this often. */
const REANCHOR_INTERVAL_NS = 1_000_000_000n;
/** Follow the wall clock when the monotonic extrapolation is further off than this. */
const MAX_DRIFT_NS = 2_000_000n;
/** A backwards wall-clock step bigger than this is followed, not papered over. */
const MAX_CLAMP_NS = 1_000_000_000n;

let anchorWall = BigInt(Date.now()) * NS_PER_MS;
let anchorMono = process.hrtime.bigint();
let lastCheckMono = anchorMono;
let lastNs = 0n;

/**
 * The current time as nanoseconds since the Unix epoch (a bigint).
 *
 * JS clocks: Date.now() is the wall clock in whole milliseconds; process.hrtime.bigint() has
 * nanoseconds but is monotonic time with an arbitrary origin. This extrapolates the wall clock from
 * an anchor (Date.now() at the anchor + monotonic nanoseconds since), re-checking the wall clock
 * at most once a second and re-anchoring when they differ by more than 2 ms (NTP slewing, clock
 * steps, suspend). So the absolute value is as accurate as Date.now() (±1 ms), and the
 * nanoseconds order records correctly.
 *
 * Results are strictly increasing within the process (a repeated or slightly earlier value becomes
 * previous + 1 ns), so records written in order have increasing timestamps; a backwards wall-clock
 * step of more than a second is followed rather than hidden.
 */
export function nanoTime(): bigint {
  const mono = process.hrtime.bigint();
  let ns = anchorWall + (mono - anchorMono);
  if (mono - lastCheckMono >= REANCHOR_INTERVAL_NS) {
    lastCheckMono = mono;
    const wall = BigInt(Date.now()) * NS_PER_MS;
    // Date.now() truncates to the millisecond: a value up to 1 ms below `ns` is no drift.
    const drift = ns - wall;
    if (drift > MAX_DRIFT_NS || drift < -MAX_DRIFT_NS) {
      anchorWall = wall;
      anchorMono = mono;
      ns = wall;
    }
  }
  if (ns <= lastNs && lastNs - ns < MAX_CLAMP_NS) ns = lastNs + 1n;
  lastNs = ns;
  return ns;
}

// ---------------------------------------------------------------------------------------------
// timestamps and records

let cachedSec: bigint | undefined;
let cachedSecText = '';

/** Nanoseconds since the epoch (or a Date, millisecond precision) as a bigint. */
export function toNanos(time: Date | bigint): bigint {
  if (typeof time === 'bigint') return time;
  const ms = time.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('invalid Date');
  return BigInt(ms) * NS_PER_MS;
}

/**
 * RFC 3339 in UTC with exactly nine fractional digits: `2016-10-06T00:17:09.669794202Z`
 * (always 30 characters for years 0000-9999).
 */
export function formatTimestamp(time: Date | bigint): string {
  const ns = toNanos(time);
  const frac = ((ns % NS_PER_SEC) + NS_PER_SEC) % NS_PER_SEC;
  const sec = (ns - frac) / NS_PER_SEC;
  if (sec !== cachedSec) {
    // toISOString: 'YYYY-MM-DDTHH:MM:SS.mmmZ'; keep up to the seconds.
    cachedSecText = new Date(Number(sec) * 1000).toISOString().slice(0, -5);
    cachedSec = sec;
  }
  return `${cachedSecText}.${frac.toString().padStart(9, '0')}Z`;
}

/** Bytes of a record before its content: timestamp, stream, tag and three spaces. */
export function headerLength(stream: LogStream): number {
  return 30 + 1 + stream.length + 1 + 1 + 1;
}

/**
 * One CRI log record: `<timestamp> <stream> <tag> <content>\n`. `content` must not contain "\n"
 * (LineSplitter guarantees that); a string is written as UTF-8.
 */
export function formatLine(time: Date | bigint, stream: LogStream, tag: LogTag, content: Buffer | string): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const header = `${formatTimestamp(time)} ${stream} ${tag} `;
  const out = Buffer.allocUnsafe(header.length + body.length + 1);
  out.write(header, 0, 'latin1');
  body.copy(out, header.length);
  out[out.length - 1] = 0x0a;
  return out;
}

/** A record's tag and content, as LineSplitter produces them. */
export interface LineRecord {
  tag: LogTag;
  content: Buffer;
}

/**
 * Receives one record from LineSplitter.scan(): its content is `head` (earlier bytes of the line,
 * from previous chunks; a fresh buffer the visitor may keep) followed by `chunk[start, end)`.
 */
export type RecordVisitor = (tag: LogTag, head: Buffer | undefined, chunk: Buffer, start: number, end: number) => void;

export interface LineSplitterOptions {
  /** Longest record content; longer lines become `P` records. Default 16 KiB. */
  maxLineBytes?: number;
  /** Tag of output that ends without a newline, flushed by end(). Default `P` (see above). */
  trailingTag?: LogTag;
}

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const CR_BUF = Buffer.from([CR]);

/**
 * Turns a byte stream, in chunks cut anywhere, into CRI records: each complete line as `F`, lines
 * longer than maxLineBytes as `P` pieces of exactly maxLineBytes plus a final `F`, and (at end())
 * any unterminated rest. Memory is bounded: it keeps at most maxLineBytes (+1 for a "\r" that may
 * turn out to end a line) of an unfinished line, as a copy (chunks are not retained).
 *
 * push()/end() return records; scan() is the allocation-free form (content as ranges) that
 * CriLogEncoder uses.
 */
export class LineSplitter {
  readonly maxLineBytes: number;
  readonly trailingTag: LogTag;
  /** The unfinished line so far (copies), excluding a held-back trailing "\r". */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The last byte seen was a "\r" not yet known to be content or part of "\r\n". */
  private heldCR = false;

  constructor(opts: LineSplitterOptions = {}) {
    const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxLineBytes must be a positive integer, got ${max}`);
    this.maxLineBytes = max;
    this.trailingTag = opts.trailingTag ?? 'P';
  }

  /** Bytes of an unfinished line held back (for tests and metrics). */
  get bufferedBytes(): number {
    return this.pendingBytes + (this.heldCR ? 1 : 0);
  }

  /** Feeds a chunk; returns the records it completes (possibly none). */
  push(chunk: Buffer, out: LineRecord[] = []): LineRecord[] {
    this.scan(chunk, (tag, head, c, start, end) => out.push({ tag, content: joinContent(head, c, start, end) }));
    return out;
  }

  /**
   * The stream ended: returns the unterminated rest, if any, as records (`P` pieces and a final
   * record tagged trailingTag). The splitter can be reused afterwards.
   */
  end(out: LineRecord[] = []): LineRecord[] {
    this.scanEnd((tag, head, c, start, end) => out.push({ tag, content: joinContent(head, c, start, end) }));
    return out;
  }

  /** push() without allocations: calls `visit` for each record the chunk completes, in order. */
  scan(chunk: Buffer, visit: RecordVisitor): void {
    const len = chunk.length;
    if (len === 0) return;
    let pos = 0;
    if (this.heldCR) {
      this.heldCR = false;
      if (chunk[0] === LF) {
        // "\r" + "\n" across chunks: the line ends here, without the "\r".
        visit('F', this.takeHead(), chunk, 0, 0);
        pos = 1;
      } else {
        this.addPartial(visit, CR_BUF, 0, 1);
      }
    }
    while (pos < len) {
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) {
        // No line end in the rest: keep it, holding back a final "\r".
        let end = len;
        if (chunk[len - 1] === CR) {
          end = len - 1;
          this.heldCR = true;
        }
        this.addPartial(visit, chunk, pos, end);
        return;
      }
      let end = nl;
      if (end > pos && chunk[end - 1] === CR) end--;
      let start = pos;
      // Emit P only while strictly more than max bytes are known: a line of exactly max bytes is F.
      while (this.pendingBytes + (end - start) > this.maxLineBytes) {
        const take = this.maxLineBytes - this.pendingBytes;
        visit('P', this.takeHead(), chunk, start, start + take);
        start += take;
      }
      visit('F', this.takeHead(), chunk, start, end);
      pos = nl + 1;
    }
  }

  /** end() without allocations. */
  scanEnd(visit: RecordVisitor): void {
    if (this.heldCR) {
      this.heldCR = false;
      this.addPartial(visit, CR_BUF, 0, 1);
    }
    if (this.pendingBytes > 0) visit(this.trailingTag, this.takeHead(), EMPTY, 0, 0);
  }

  /** Adds `chunk[start, end)` to the unfinished line, cutting off `P` records while it is over the limit. */
  private addPartial(visit: RecordVisitor, chunk: Buffer, start: number, end: number): void {
    while (this.pendingBytes + (end - start) > this.maxLineBytes) {
      const take = this.maxLineBytes - this.pendingBytes;
      visit('P', this.takeHead(), chunk, start, start + take);
      start += take;
    }
    if (end > start) {
      // A copy: keeping a view would pin the whole chunk.
      this.pending.push(Buffer.from(chunk.subarray(start, end)));
      this.pendingBytes += end - start;
    }
  }

  private takeHead(): Buffer | undefined {
    if (this.pendingBytes === 0) return undefined;
    const parts = this.pending;
    const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return head;
  }
}

function joinContent(head: Buffer | undefined, chunk: Buffer, start: number, end: number): Buffer {
  if (!head) return start === end ? EMPTY : chunk.subarray(start, end);
  if (start === end) return head;
  return Buffer.concat([head, chunk.subarray(start, end)]);
}

// ---------------------------------------------------------------------------------------------
// CriLogEncoder

/** Lines shorter than this are copied byte by byte (cheaper than a native call for short lines). */
const SHORT_COPY = 128;

/**
 * One stream's output → CRI log records, in one pass: a LineSplitter plus formatting straight into
 * one output buffer per chunk (no per-line buffers: about 3x faster than push() + formatLine()).
 * All records completed by one chunk get the same timestamp: they arrived together.
 */
export class CriLogEncoder {
  readonly stream: LogStream;
  private readonly splitter: LineSplitter;
  // Records of the chunk being encoded (reused between calls).
  private tags: LogTag[] = [];
  private heads: Array<Buffer | undefined> = [];
  private starts: number[] = [];
  private ends: number[] = [];
  private chunks: Buffer[] = [];
  private readonly visit: RecordVisitor = (tag, head, chunk, start, end) => {
    this.tags.push(tag);
    this.heads.push(head);
    this.chunks.push(chunk);
    this.starts.push(start);
    this.ends.push(end);
  };

  constructor(stream: LogStream, opts: LineSplitterOptions = {}) {
    this.stream = stream;
    this.splitter = new LineSplitter(opts);
  }

  /** Bytes of an unfinished line held back. */
  get bufferedBytes(): number {
    return this.splitter.bufferedBytes;
  }

  /** The records `chunk` completes, stamped `time`, as one buffer; undefined if none. */
  encode(chunk: Buffer, time: bigint | Date): Buffer | undefined {
    this.splitter.scan(chunk, this.visit);
    return this.render(time);
  }

  /** The stream ended: the unterminated rest as records (see LineSplitter.end()); undefined if none. */
  end(time: bigint | Date): Buffer | undefined {
    this.splitter.scanEnd(this.visit);
    return this.render(time);
  }

  private render(time: bigint | Date): Buffer | undefined {
    const n = this.tags.length;
    if (n === 0) return undefined;
    const { tags, heads, chunks, starts, ends } = this;
    const ts = formatTimestamp(time);
    const hdrF = Buffer.from(`${ts} ${this.stream} F `, 'latin1');
    const hdrP = Buffer.from(`${ts} ${this.stream} P `, 'latin1');
    const hlen = hdrF.length;
    let total = 0;
    for (let i = 0; i < n; i++) total += hlen + (heads[i]?.length ?? 0) + (ends[i]! - starts[i]!) + 1;
    const out = Buffer.allocUnsafe(total);
    let o = 0;
    for (let i = 0; i < n; i++) {
      const hdr = tags[i] === 'F' ? hdrF : hdrP;
      for (let k = 0; k < hlen; k++) out[o++] = hdr[k]!;
      const head = heads[i];
      if (head) o += head.copy(out, o);
      const chunk = chunks[i]!;
      const start = starts[i]!;
      const end = ends[i]!;
      if (end - start < SHORT_COPY) {
        for (let k = start; k < end; k++) out[o++] = chunk[k]!;
      } else {
        o += chunk.copy(out, o, start, end);
      }
      out[o++] = LF;
    }
    tags.length = 0;
    heads.length = 0;
    starts.length = 0;
    ends.length = 0;
    chunks.length = 0;
    return out;
  }
}
