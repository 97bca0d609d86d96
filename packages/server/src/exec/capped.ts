// Output kept up to a cap, the rest counted and dropped as it arrives (never buffered): ExecSync
// answers with at most 16 MiB of each stream, as kubelet expects (CVE-2022-1708, CVE-2022-31030).

/** What ExecSync keeps of stdout and of stderr, each. */
export const EXEC_SYNC_OUTPUT_CAP = 16 * 1024 * 1024;

export class CappedOutput {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private droppedBytes = 0;

  constructor(readonly cap: number = EXEC_SYNC_OUTPUT_CAP) {
    if (!Number.isSafeInteger(cap) || cap < 0) throw new RangeError(`invalid output cap ${cap}`);
  }

  /** Keeps what still fits of `chunk` (a view of it, not a copy) and counts the rest. */
  push(chunk: Buffer): void {
    const room = this.cap - this.kept;
    if (chunk.length <= room) {
      if (chunk.length > 0) this.chunks.push(chunk);
      this.kept += chunk.length;
      return;
    }
    if (room > 0) {
      this.chunks.push(chunk.subarray(0, room));
      this.kept += room;
    }
    this.droppedBytes += chunk.length - room;
  }

  /** Bytes kept (at most `cap`). */
  get length(): number {
    return this.kept;
  }

  /** Bytes that arrived beyond the cap. */
  get dropped(): number {
    return this.droppedBytes;
  }

  get truncated(): boolean {
    return this.droppedBytes > 0;
  }

  /** The kept bytes, as one Buffer. */
  toBuffer(): Buffer {
    if (this.chunks.length === 1) return this.chunks[0]!;
    return Buffer.concat(this.chunks, this.kept);
  }

  /** At most the first `n` kept bytes. */
  head(n: number): Buffer {
    const out: Buffer[] = [];
    let have = 0;
    for (const c of this.chunks) {
      if (have >= n) break;
      const part = c.subarray(0, n - have);
      out.push(part);
      have += part.length;
    }
    return Buffer.concat(out, have);
  }
}
