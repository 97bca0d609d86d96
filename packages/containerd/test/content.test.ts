import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  ContainerdClient,
  ContentSizeError,
  ContentTooLargeError,
  LEASE_HEADER,
  isAbortError,
  readContent,
  readContentAll,
  rechunk,
  skipBytes,
  writeContent,
} from '../src';
import { FakeContainerd, sha256 } from './fake-containerd';

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(Buffer.from(c));
  return out;
}

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.subarray(o, o + size);
}

describe('rechunk and skipBytes', () => {
  it('slices large chunks and coalesces small ones into full chunks', async () => {
    const data = randomBytes(10_000);
    const out = await collect(rechunk(chunksOf(data, 7), 4096));
    expect(out.map((c) => c.length)).toEqual([4096, 4096, 1808]);
    expect(Buffer.concat(out).equals(data)).toBe(true);
    const big = await collect(rechunk(chunksOf(data, 10_000), 3000));
    expect(big.map((c) => c.length)).toEqual([3000, 3000, 3000, 1000]);
    expect(await collect(rechunk(chunksOf(Buffer.alloc(0), 1), 10))).toEqual([]);
  });

  it('accepts Node Readables', async () => {
    const data = randomBytes(5000);
    const out = await collect(rechunk(Readable.from([data.subarray(0, 100), data.subarray(100)]), 4096));
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });

  it('skips a prefix across chunk boundaries', async () => {
    const data = randomBytes(1000);
    expect(Buffer.concat(await collect(skipBytes(chunksOf(data, 64), 130))).equals(data.subarray(130))).toBe(true);
    expect(Buffer.concat(await collect(skipBytes(chunksOf(data, 64), 0))).equals(data)).toBe(true);
    expect(await collect(skipBytes(chunksOf(data, 64), 5000))).toEqual([]);
  });
});

describe('writeContent / readContent against the Write protocol', () => {
  let fake: FakeContainerd;
  let client: ContainerdClient;

  beforeEach(async () => {
    fake = new FakeContainerd();
    await fake.start();
    client = new ContainerdClient({ address: fake.address, namespace: 'crisp' });
  });

  afterEach(async () => {
    client.close();
    await fake.dispose();
  });

  it('writes a blob in bounded chunks and commits it with labels under a lease', async () => {
    const data = randomBytes(300_000);
    const digest = sha256(data);
    const offsets: number[] = [];
    const offsetsAsked: number[] = [];
    const res = await writeContent(client, {
      ref: 'r1',
      expected: { digest, size: data.length },
      labels: { 'io.crisp.owner': 'crisp' },
      leaseId: 'lease-9',
      chunkBytes: 64 * 1024,
      source: (offset) => {
        offsetsAsked.push(offset);
        return chunksOf(data, 1000);
      },
      onProgress: (o) => offsets.push(o),
    });
    expect(res).toEqual({ digest, size: data.length, existed: false, resumedFrom: 0 });
    expect(offsetsAsked).toEqual([0]);
    expect(fake.writeSizes.every((s) => s <= 64 * 1024)).toBe(true);
    expect(fake.writeSizes).toHaveLength(5);
    expect(offsets[offsets.length - 1]).toBe(data.length);
    expect(fake.blobs.get(digest)?.data.equals(data)).toBe(true);
    expect(fake.blobs.get(digest)?.labels).toEqual({ 'io.crisp.owner': 'crisp' });
    expect(fake.lastCall('Content.Write')?.metadata.get(LEASE_HEADER)).toBe('lease-9');
    expect(fake.ingests.size).toBe(0);

    expect(Buffer.concat(await collect(readContent(client, digest))).equals(data)).toBe(true);
    const part = Buffer.concat(await collect(readContent(client, digest, { offset: 10, size: 2500 })));
    expect(part.equals(data.subarray(10, 2510))).toBe(true);
    expect((await readContentAll(client, digest, data.length)).equals(data)).toBe(true);
    await expect(readContentAll(client, digest, data.length - 1)).rejects.toBeInstanceOf(ContentTooLargeError);
    await expect(readContentAll(client, 'sha256:' + '0'.repeat(64), 10)).rejects.toMatchObject({ code: 'not-found' });
  });

  it('resumes an interrupted write from the offset containerd reports', async () => {
    const data = randomBytes(200_000);
    const digest = sha256(data);
    fake.failWritesAfter = 2;
    const err = await writeContent(client, {
      ref: 'r2',
      expected: { digest, size: data.length },
      chunkBytes: 32 * 1024,
      source: () => chunksOf(data, 32 * 1024),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unavailable' });
    expect(fake.ingests.get('r2')?.offset).toBe(64 * 1024);

    const asked: number[] = [];
    const res = await writeContent(client, {
      ref: 'r2',
      expected: { digest, size: data.length },
      chunkBytes: 32 * 1024,
      source: (offset) => {
        asked.push(offset);
        return chunksOf(data.subarray(offset), 5000);
      },
    });
    expect(asked).toEqual([64 * 1024]);
    expect(res).toMatchObject({ existed: false, resumedFrom: 64 * 1024 });
    expect(fake.blobs.get(digest)?.data.equals(data)).toBe(true);
  });

  it('reports an existing blob without calling the source', async () => {
    const data = randomBytes(1000);
    const digest = sha256(data);
    fake.blobs.set(digest, { data, labels: {} });
    const res = await writeContent(client, {
      ref: 'r3',
      expected: { digest, size: data.length },
      source: () => {
        throw new Error('source must not be opened');
      },
    });
    expect(res).toEqual({ digest, size: data.length, existed: true, resumedFrom: 0 });
  });

  it('waits while another writer holds the ref', async () => {
    const data = randomBytes(1000);
    fake.lockedStats = 3;
    const res = await writeContent(client, { ref: 'r4', expected: { digest: sha256(data), size: 1000 }, source: () => chunksOf(data, 100) });
    expect(res.existed).toBe(false);
    expect(fake.lockedStats).toBe(0);
  });

  it('rejects a source of the wrong size, keeping the ingest when short', async () => {
    const data = randomBytes(1000);
    const digest = sha256(data);
    const long = writeContent(client, { ref: 'r5', expected: { digest, size: 999 }, source: () => chunksOf(data, 100) });
    await expect(long).rejects.toBeInstanceOf(ContentSizeError);
    const short = writeContent(client, { ref: 'r6', expected: { digest, size: 1000 }, source: () => chunksOf(data.subarray(0, 500), 100) });
    await expect(short).rejects.toMatchObject({ name: 'ContentSizeError', expectedSize: 1000, actualSize: 500 });
    expect(fake.ingests.get('r6')?.offset).toBe(500);
    await expect(writeContent(client, { ref: 'r7', expected: { digest, size: -1 }, source: () => chunksOf(data, 1) })).rejects.toBeInstanceOf(RangeError);
  });

  it('aborts the ingest when containerd refuses the commit for a digest mismatch', async () => {
    const data = randomBytes(1000);
    const err = await writeContent(client, {
      ref: 'r8',
      expected: { digest: 'sha256:' + 'b'.repeat(64), size: 1000 },
      source: () => chunksOf(data, 100),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'failed-precondition' });
    expect(fake.ingests.has('r8')).toBe(false);
    expect(fake.lastCall('Content.Abort')).toBeDefined();
  });

  it('stops on abort with an AbortError and releases the ref', async () => {
    const data = randomBytes(100_000);
    const controller = new AbortController();
    const err = await writeContent(client, {
      ref: 'r9',
      expected: { digest: sha256(data), size: data.length },
      chunkBytes: 10_000,
      signal: controller.signal,
      source: async function* (offset) {
        yield data.subarray(offset, offset + 20_000);
        // Writes are pipelined: abort once the fake holds what was sent.
        const until = Date.now() + 2000;
        while ((fake.ingests.get('r9')?.offset ?? 0) < 20_000 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        controller.abort();
        await new Promise((r) => setTimeout(r, 20));
        yield data.subarray(offset + 20_000);
      },
    }).catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    const until = Date.now() + 2000;
    while (fake.ingests.get('r9')?.locked && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(fake.ingests.get('r9')?.locked).toBe(false);
    expect(fake.ingests.get('r9')?.offset).toBe(20_000);
  });
});
