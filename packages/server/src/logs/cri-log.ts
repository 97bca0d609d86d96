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
//   the process so that records (of both streams, in file order) never go back in time.

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
 * Formats records into one buffer (one allocation per batch rather than per line), stamping each
 * with `clock()` in order.
 */
export function formatRecords(stream: LogStream, records: readonly LineRecord[], clock: () => bigint = nanoTime): Buffer {
  if (records.length === 1) {
    const r = records[0]!;
    return formatLine(clock(), stream, r.tag, r.content);
  }
  const hlen = headerLength(stream);
  let total = 0;
  for (const r of records) total += hlen + r.content.length + 1;
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const r of records) {
    off += out.write(`${formatTimestamp(clock())} ${stream} ${r.tag} `, off, 'latin1');
    off += r.content.copy(out, off);
    out[off++] = 0x0a;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// LineSplitter

export interface LineSplitterOptions {
  /** Longest record content; longer lines become `P` records. Default 16 KiB. */
  maxLineBytes?: number;
  /** Tag of output that ends without a newline, flushed by end(). Default `P` (see above). */
  trailingTag?: LogTag;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Turns a byte stream, in chunks cut anywhere, into CRI records: each complete line as `F`, lines
 * longer than maxLineBytes as `P` pieces of exactly maxLineBytes plus a final `F`, and (at end())
 * any unterminated rest. Memory is bounded: it never holds more than maxLineBytes (+1 for a "\r"
 * that may turn out to end a line) of an unfinished line. Record contents are views into the
 * chunks where possible: use them before the chunks are reused.
 */
export class LineSplitter {
  readonly maxLineBytes: number;
  readonly trailingTag: LogTag;
  /** The unfinished line so far (excluding a held-back trailing "\r"). */
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
    let pos = 0;
    const len = chunk.length;
    if (len === 0) return out;
    if (this.heldCR) {
      this.heldCR = false;
      if (chunk[0] === LF) {
        // "\r" + "\n" across chunks: the line ends here, without the "\r".
        this.emitLine(out, undefined);
        pos = 1;
      } else {
        this.append(out, CR_BUF);
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
        if (end > pos) this.append(out, chunk.subarray(pos, end));
        break;
      }
      let end = nl;
      if (end > pos && chunk[end - 1] === CR) end--;
      this.emitLine(out, end > pos ? chunk.subarray(pos, end) : undefined);
      pos = nl + 1;
    }
    return out;
  }

  /**
   * The stream ended: returns the unterminated rest, if any, as records (`P` pieces and a final
   * record tagged trailingTag). The splitter can be reused afterwards.
   */
  end(out: LineRecord[] = []): LineRecord[] {
    if (this.heldCR) {
      this.heldCR = false;
      this.append(out, CR_BUF);
    }
    if (this.pendingBytes > 0) {
      out.push({ tag: this.trailingTag, content: this.take() });
    }
    return out;
  }

  /** Adds content of the current line, cutting off `P` records while it is over the limit. */
  private append(out: LineRecord[], piece: Buffer): void {
    const max = this.maxLineBytes;
    let p = piece;
    // Emit P only while strictly more than max bytes are known: a line of exactly max bytes is F.
    while (this.pendingBytes + p.length > max) {
      const room = max - this.pendingBytes;
      if (room > 0) this.pending.push(p.subarray(0, room));
      this.pendingBytes = max;
      out.push({ tag: 'P', content: this.take() });
      p = p.subarray(room);
    }
    if (p.length > 0) {
      this.pending.push(p);
      this.pendingBytes += p.length;
    }
  }

  /** A line ended: its rest (plus `last`) as one `F` record (possibly empty). */
  private emitLine(out: LineRecord[], last: Buffer | undefined): void {
    if (last) this.append(out, last);
    out.push({ tag: 'F', content: this.take() });
  }

  private take(): Buffer {
    const parts = this.pending;
    const content = parts.length === 0 ? EMPTY : parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return content;
  }
}

const EMPTY = Buffer.alloc(0);
const CR_BUF = Buffer.from([CR]);
