import type { ContainerdClient } from './client';

export interface ReadContentOptions {
  signal?: AbortSignal;
  /** Start reading here. */
  offset?: number;
  /** Read at most this many bytes (0 or unset: to the end). */
  size?: number;
}

/** The blob is bigger than the caller is willing to hold in memory. */
export class ContentTooLargeError extends Error {
  override readonly name = 'ContentTooLargeError';
  constructor(
    readonly digest: string,
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`content ${digest} is ${size} bytes, more than the ${maxBytes} allowed`);
  }
}

/** Streams a blob's bytes (containerd sends them in chunks of up to 1 MiB). */
export async function* readContent(
  client: ContainerdClient,
  digest: string,
  options?: AbortSignal | ReadContentOptions,
): AsyncGenerator<Buffer, void, undefined> {
  const opts: ReadContentOptions = options instanceof AbortSignal ? { signal: options } : (options ?? {});
  const stream = client.content.read(
    { digest, offset: BigInt(opts.offset ?? 0), size: BigInt(opts.size ?? 0) },
    { signal: opts.signal },
  );
  for await (const res of stream) {
    if (res.data.length > 0) yield res.data;
  }
}

/**
 * A small blob (manifest, index, config) in one Buffer. Checks the size with Content.Info before
 * reading, and again while reading, so a huge or lying blob never fills memory.
 */
export async function readContentAll(
  client: ContainerdClient,
  digest: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const { info } = await client.content.info({ digest }, { signal });
  const size = Number(info?.size ?? 0n);
  if (size > maxBytes) throw new ContentTooLargeError(digest, size, maxBytes);
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of readContent(client, digest, { signal, size })) {
    total += chunk.length;
    if (total > maxBytes) throw new ContentTooLargeError(digest, total, maxBytes);
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}
