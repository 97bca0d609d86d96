// An incremental SPDY frame parser. Bytes arrive as the socket delivers them: a frame may be cut
// across any number of reads, and one read may hold many frames. push() stores chunks without
// copying; next() returns the next complete frame, or null until more bytes arrive.
//
// Bounded: a frame's declared length is checked against the limits as soon as its 8-byte header
// is in, before its payload is buffered, and an oversized frame is a session error (the parser
// cannot skip it: a header block in it would desynchronise the compression state). Buffered
// bytes are thus at most one frame plus the unread part of the last chunk.
import { FRAME_HEADER_SIZE, MAX_FRAME_LENGTH } from './constants';
import { SpdyProtocolError } from './errors';
import { decodeFrame, decodeFrameHead } from './frames';
import type { Frame, FrameHead } from './frames';
import { DEFAULT_MAX_HEADER_BLOCK_SIZE, HeaderDecompressor } from './headers';

export interface FrameParserOptions {
  /**
   * Largest DATA frame payload accepted. Default: 2^24-1, the protocol's maximum, because Go's
   * spdystream (what kubelet and client-go speak) sends each Write() as one DATA frame and
   * ignores flow control, so any size up to the maximum can legitimately arrive.
   */
  maxDataFrameSize?: number;
  /** Largest control frame payload accepted (header blocks are the large ones). Default 1 MiB. */
  maxControlFrameSize?: number;
  /** Largest header block once decompressed. Default 256 KiB. */
  maxHeaderBlockSize?: number;
  /** The inbound compression context (one per connection direction); a new one by default. */
  decompressor?: HeaderDecompressor;
}

export const DEFAULT_MAX_CONTROL_FRAME_SIZE = 1024 * 1024;

export class FrameParser {
  private readonly chunks: Buffer[] = [];
  /** Bytes already consumed from chunks[0]. */
  private offset = 0;
  private buffered = 0;
  private head: FrameHead | null = null;
  private failed: SpdyProtocolError | null = null;
  private readonly maxData: number;
  private readonly maxControl: number;
  private readonly decompressor: HeaderDecompressor;

  constructor(options: FrameParserOptions = {}) {
    this.maxData = Math.min(options.maxDataFrameSize ?? MAX_FRAME_LENGTH, MAX_FRAME_LENGTH);
    this.maxControl = Math.min(options.maxControlFrameSize ?? DEFAULT_MAX_CONTROL_FRAME_SIZE, MAX_FRAME_LENGTH);
    this.decompressor =
      options.decompressor ?? new HeaderDecompressor(options.maxHeaderBlockSize ?? DEFAULT_MAX_HEADER_BLOCK_SIZE);
  }

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete frame, or null if more bytes are needed. Throws SpdyProtocolError on a
   * session error; the parser then stays failed (every later call throws the same error).
   */
  next(): Frame | null {
    if (this.failed) throw this.failed;
    try {
      if (!this.head) {
        if (this.buffered < FRAME_HEADER_SIZE) return null;
        const head = decodeFrameHead(this.take(FRAME_HEADER_SIZE));
        const max = head.control ? this.maxControl : this.maxData;
        if (head.length > max) {
          const what = head.control ? `control frame (type ${head.type})` : `DATA frame (stream ${head.streamId})`;
          throw new SpdyProtocolError(`${what} of ${head.length} bytes exceeds the limit of ${max}`);
        }
        this.head = head;
      }
      if (this.buffered < this.head.length) return null;
      const head = this.head;
      this.head = null;
      return decodeFrame(head, this.take(head.length), this.decompressor);
    } catch (err) {
      this.failed =
        err instanceof SpdyProtocolError ? err : new SpdyProtocolError(`cannot parse SPDY frame: ${String(err)}`);
      this.chunks.length = 0;
      this.buffered = 0;
      throw this.failed;
    }
  }

  /** Removes n buffered bytes (n <= buffered); a slice of one chunk when possible, else a copy. */
  private take(n: number): Buffer {
    this.buffered -= n;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length - this.offset >= n) {
      const out = first.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (this.offset === first.length) {
        this.chunks.shift();
        this.offset = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0];
      const k = Math.min(n - filled, chunk.length - this.offset);
      chunk.copy(out, filled, this.offset, this.offset + k);
      filled += k;
      this.offset += k;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    return out;
  }
}
