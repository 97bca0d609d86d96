// A pass-through stream that checks a blob's size and digest as the bytes go by.
import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { createDigestHash, digestProblem } from './digest';
import { DigestMismatchError, RegistryError, SizeMismatchError } from './errors';

export interface VerifyOptions {
  /**
   * Bytes of the blob already held by the caller when resuming: the stream carries the blob from
   * this offset on and sizes are checked against `expectedSize - offset`.
   */
  offset?: number;
  /**
   * When resuming: a hash already fed with the first `offset` bytes, so that the digest of the
   * whole blob can still be checked. Without it, a resumed stream verifies the size only.
   */
  hash?: Hash;
  /** Name used in error messages (default `blob <digest>`). */
  what?: string;
}

export class VerifyingStream extends Transform {
  /** Bytes that went through this stream. */
  bytes = 0;
  /** The digest computed over the whole blob, once the stream has ended (when it could be computed). */
  computedDigest?: string;
  private readonly hash?: Hash;
  private readonly offset: number;
  private readonly what: string;

  constructor(
    readonly expectedDigest: string,
    readonly expectedSize?: number,
    options: VerifyOptions = {},
  ) {
    super();
    const problem = digestProblem(expectedDigest);
    if (problem !== undefined) throw new RegistryError(problem);
    this.offset = options.offset ?? 0;
    this.what = options.what ?? `blob ${expectedDigest}`;
    if (options.hash !== undefined) this.hash = options.hash;
    else if (this.offset === 0) this.hash = createDigestHash(expectedDigest);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const total = this.offset + this.bytes;
    if (this.expectedSize !== undefined && total > this.expectedSize) {
      callback(new SizeMismatchError(this.expectedSize, total, this.what, true));
      return;
    }
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const total = this.offset + this.bytes;
    if (this.expectedSize !== undefined && total !== this.expectedSize) {
      callback(new SizeMismatchError(this.expectedSize, total, this.what));
      return;
    }
    if (this.hash !== undefined) {
      const algorithm = this.expectedDigest.slice(0, this.expectedDigest.indexOf(':'));
      this.computedDigest = `${algorithm}:${this.hash.digest('hex')}`;
      if (this.computedDigest !== this.expectedDigest) {
        callback(new DigestMismatchError(this.expectedDigest, this.computedDigest, this.what));
        return;
      }
    }
    callback();
  }
}

/**
 * A Transform passing the blob through unchanged that fails with SizeMismatchError as soon as more
 * than `expectedSize` bytes arrive (or when fewer did at the end), and with DigestMismatchError at
 * the end when the content does not hash to `expectedDigest`.
 */
export function verifyingStream(expectedDigest: string, expectedSize?: number, options?: VerifyOptions): VerifyingStream {
  return new VerifyingStream(expectedDigest, expectedSize, options);
}
