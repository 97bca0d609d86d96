import type { Readable } from 'node:stream';
import { content } from '@crisp/api';
import { AsyncQueue } from './async-queue';
import { Backoff, sleep, throwIfAborted } from './backoff';
import type { ContainerdClient } from './client';
import { isAlreadyExists, isContainerdError, isUnavailable } from './errors';
import { leaseMetadata } from './metadata';

const { WriteAction } = content;
type WriteRequest = content.WriteContentRequest;
type WriteResponse = content.WriteContentResponse;

/** 1 MiB: containerd's own copy buffer size, well under its 16 MiB receive limit. */
export const DEFAULT_WRITE_CHUNK_BYTES = 1024 * 1024;
/** WRITE requests in flight at once (each up to a chunk). */
export const WRITE_WINDOW = 4;

export type ContentSource = AsyncIterable<Uint8Array> | Readable;

export interface ExpectedDescriptor {
  digest: string;
  size: number;
}

export interface WriteContentOptions {
  /** Ingest ref; the same ref resumes an interrupted write (e.g. `crisp-pull-<digest>`). */
  ref: string;
  expected: ExpectedDescriptor;
  /** Applied at commit (only to a new blob: an existing one keeps its labels). */
  labels?: Record<string, string>;
  /**
   * Opened once containerd has said how much of `ref` it already holds: must yield the blob's
   * bytes from `offset` on (an HTTP Range request, a file stream at `start`; see skipBytes).
   * Not called when the blob already exists or is already fully ingested.
   */
  source: (offset: number) => ContentSource | Promise<ContentSource>;
  leaseId?: string;
  signal?: AbortSignal;
  chunkBytes?: number;
  /** Bytes containerd holds after each chunk. */
  onProgress?: (offset: number) => void;
}

export interface WriteContentResult {
  digest: string;
  size: number;
  /** The blob was already in the content store (nothing was written, labels not applied). */
  existed: boolean;
  /** Offset the write resumed from (0 for a fresh write). */
  resumedFrom: number;
}

/** The source did not produce exactly `expected.size` bytes. */
export class ContentSizeError extends Error {
  override readonly name = 'ContentSizeError';
  constructor(
    readonly ref: string,
    readonly expectedSize: number,
    readonly actualSize: number,
  ) {
    super(`content source for ${ref} produced ${actualSize} bytes, expected ${expectedSize}`);
  }
}

/**
 * Writes a blob with containerd's Content.Write protocol:
 * STAT (opens the ingest for `ref`, learns the offset it already has) → WRITE chunks at that
 * offset → COMMIT with the expected digest and size. At most WRITE_WINDOW chunks are in flight,
 * which bounds memory and follows containerd's pace without stalling the source on every chunk.
 *
 * An existing blob (ALREADY_EXISTS on stat or commit) is success with `existed: true`. While
 * another writer holds `ref` (UNAVAILABLE "locked"), retries with backoff until `signal` aborts,
 * as containerd's Go client does. A commit refused for a digest or size mismatch aborts the ingest,
 * since resuming it could never succeed; any other failure keeps it for resuming.
 */
export async function writeContent(client: ContainerdClient, options: WriteContentOptions): Promise<WriteContentResult> {
  const { size } = options.expected;
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid expected size ${size}`);
  const backoff = new Backoff(16, 2000);
  for (;;) {
    throwIfAborted(options.signal);
    try {
      return await writeOnce(client, options);
    } catch (err) {
      if (!(isUnavailable(err) && err.details.includes('locked'))) throw err;
    }
    await sleep(backoff.next(), options.signal);
  }
}

async function writeOnce(client: ContainerdClient, options: WriteContentOptions): Promise<WriteContentResult> {
  const { ref, expected, signal } = options;
  const chunkBytes = options.chunkBytes ?? DEFAULT_WRITE_CHUNK_BYTES;
  const existed: WriteContentResult = { digest: expected.digest, size: expected.size, existed: true, resumedFrom: 0 };

  const requests = new AsyncQueue<WriteRequest>();
  const call = new AbortController();
  const onAbort = (): void => call.abort();
  if (signal?.aborted) call.abort();
  else signal?.addEventListener('abort', onAbort);
  const responses = client.content
    .write(requests, {
      signal: call.signal,
      metadata: options.leaseId === undefined ? undefined : leaseMetadata(options.leaseId),
    })
    [Symbol.asyncIterator]();
  const exchange = async (req: Partial<WriteRequest>): Promise<WriteResponse> => {
    requests.push(writeRequest(req));
    const res = await responses.next();
    if (res.done) throw new Error(`Content.Write for ${ref}: stream ended without a response`);
    return res.value;
  };

  let finished = false;
  try {
    let status: WriteResponse;
    try {
      // total/expected go in the first message: containerd sizes and checks the ingest by them.
      status = await exchange({ action: WriteAction.STAT, ref, total: BigInt(expected.size), expected: expected.digest });
    } catch (err) {
      if (isAlreadyExists(err)) return existed;
      throw err;
    }

    let offset = Number(status.offset);
    // An ingest longer than the blob holds something else: a WRITE at offset 0 makes containerd
    // truncate it and start over.
    if (offset > expected.size) offset = 0;
    const resumedFrom = offset;

    if (offset < expected.size) {
      const source = await options.source(offset);
      // Up to WRITE_WINDOW chunks in flight: the download keeps flowing while containerd writes,
      // and memory stays bounded to the window. containerd answers WRITEs in order.
      let pending = 0;
      let acked = offset;
      const ack = async (): Promise<void> => {
        const res = await responses.next();
        throwIfAborted(signal);
        if (res.done) throw new Error(`Content.Write for ${ref}: stream ended without a response`);
        pending--;
        acked = Number(res.value.offset);
        options.onProgress?.(acked);
      };
      for await (const chunk of rechunk(source, chunkBytes)) {
        throwIfAborted(signal);
        if (offset + chunk.length > expected.size) {
          throw new ContentSizeError(ref, expected.size, offset + chunk.length);
        }
        requests.push(writeRequest({ action: WriteAction.WRITE, offset: BigInt(offset), data: toBuffer(chunk) }));
        pending++;
        offset += chunk.length;
        if (pending >= WRITE_WINDOW) await ack();
      }
      while (pending > 0) await ack();
      if (acked !== offset) throw new Error(`Content.Write for ${ref}: containerd holds ${acked} bytes, sent ${offset}`);
      if (offset !== expected.size) throw new ContentSizeError(ref, expected.size, offset);
    }

    try {
      await exchange({
        action: WriteAction.COMMIT,
        offset: BigInt(offset),
        total: BigInt(expected.size),
        expected: expected.digest,
        labels: options.labels ?? {},
      });
    } catch (err) {
      if (isAlreadyExists(err)) return { ...existed, resumedFrom };
      if (isContainerdError(err) && err.code === 'failed-precondition') {
        // Wrong digest or size: the ingest holds bad bytes; resuming would fail the same way.
        await client.content.abort({ ref }, { signal, timeoutMs: 5000 }).catch(() => undefined);
      }
      throw err;
    }
    // Half-close and let containerd end the call cleanly (it answers EOF with OK).
    requests.end();
    await responses.next();
    finished = true;
    return { digest: expected.digest, size: expected.size, existed: false, resumedFrom };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    requests.end();
    if (!finished) call.abort(); // containerd releases the ref's lock when the call goes away
  }
}

function writeRequest(req: Partial<WriteRequest>): WriteRequest {
  return {
    action: WriteAction.STAT,
    ref: '',
    total: 0n,
    expected: '',
    offset: 0n,
    data: Buffer.alloc(0),
    labels: {},
    ...req,
  };
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * Re-slices a byte stream into `size`-byte chunks (the last may be shorter): large inputs are
 * sliced without copying, small ones coalesced so each round trip carries a full chunk.
 */
export async function* rechunk(source: ContentSource, size: number): AsyncGenerator<Uint8Array, void, undefined> {
  let parts: Uint8Array[] = [];
  let held = 0;
  for await (const raw of source as AsyncIterable<Uint8Array | string>) {
    let chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    while (chunk.length > 0) {
      const take = Math.min(size - held, chunk.length);
      parts.push(chunk.subarray(0, take));
      held += take;
      chunk = chunk.subarray(take);
      if (held === size) {
        yield join(parts, held);
        parts = [];
        held = 0;
      }
    }
  }
  if (held > 0) yield join(parts, held);
}

function join(parts: Uint8Array[], length: number): Uint8Array {
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
}

/** Drops the first `count` bytes: resuming over a source that can only start at 0. */
export async function* skipBytes(source: ContentSource, count: number): AsyncGenerator<Uint8Array, void, undefined> {
  let skip = count;
  for await (const raw of source as AsyncIterable<Uint8Array | string>) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    yield skip > 0 ? chunk.subarray(skip) : chunk;
    skip = 0;
  }
}
