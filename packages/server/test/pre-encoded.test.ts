import { cri } from '@crisp/api';
import { createChannel, createClient, createServer } from 'nice-grpc';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compareDecimal } from '../src/container/manager';
import { PreEncodedList, PreEncodedListCache, PreEncodedMessage, RuntimeServiceDefinition } from '../src/server/pre-encoded';
import { withUnimplemented } from '../src/server/unimplemented';

const container = (i: number, annotationBytes = 300): cri.Container =>
  cri.Container.fromPartial({
    id: `${i}`.repeat(64).slice(0, 64),
    podSandboxId: 'p'.repeat(64),
    metadata: { name: `c${i}`, attempt: i },
    image: { image: 'busybox' },
    state: cri.ContainerState.CONTAINER_RUNNING,
    createdAt: 1796318696709799750n + BigInt(i),
    labels: { app: `a${i}` },
    annotations: { ['x'.repeat(200)]: 'y'.repeat(annotationBytes) },
  });

const status = (id: string): cri.ContainerStatusResponse =>
  cri.ContainerStatusResponse.fromPartial({
    status: {
      id,
      metadata: { name: 'c', attempt: 1 },
      state: cri.ContainerState.CONTAINER_EXITED,
      createdAt: 1796318696709799750n,
      startedAt: 1796318696709799751n,
      finishedAt: 1796318696709799752n,
      exitCode: 137,
      image: { image: 'busybox' },
      reason: 'OOMKilled',
      labels: { a: 'b' },
      user: { linux: { uid: 1000n, gid: 1000n, supplementalGroups: [2000n] } },
    },
    info: {},
  });

describe('pre-encoded ListContainers', () => {
  it('encodes to what the generated encoder gives', () => {
    const items = Array.from({ length: 5 }, (_, i) => container(i));
    const pre = new PreEncodedList(items.map((c) => cri.Container.encode(c).finish()));
    const type = RuntimeServiceDefinition.methods.listContainers.responseType;
    const bytes = type.encode(type.fromPartial(pre as unknown as cri.ListContainersResponse)).finish();
    expect(cri.ListContainersResponse.decode(bytes)).toEqual({ containers: items });
    expect(Buffer.from(bytes).equals(Buffer.from(cri.ListContainersResponse.encode({ containers: items }).finish()))).toBe(true);
  });

  it('writes one-, two- and three-byte length prefixes as the generated encoder does', () => {
    // Entries of about 100 bytes, 1 KiB and 20 KiB: lengths below 2^7, below 2^14 and above.
    const items = [cri.Container.fromPartial({ id: 'c1', metadata: { name: 'c1', attempt: 0 } }), container(2, 1000), container(3, 20_000)];
    const lengths = items.map((c) => cri.Container.encode(c).finish().length);
    expect(lengths[0]).toBeLessThan(128);
    expect(lengths[1]).toBeGreaterThanOrEqual(128);
    expect(lengths[2]).toBeGreaterThanOrEqual(16384);
    const pre = new PreEncodedList(items.map((c) => cri.Container.encode(c).finish()));
    expect(Buffer.from(pre.encode()).equals(Buffer.from(cri.ListContainersResponse.encode({ containers: items }).finish()))).toBe(true);
  });

  it('gives bytes that Buffer.from (what nice-grpc applies to them) wraps without copying', () => {
    const bytes = new PreEncodedList([cri.Container.encode(container(1)).finish()]).encode();
    const wrapped = Buffer.from(bytes);
    expect(wrapped.buffer).toBe(bytes.buffer);
    expect(wrapped.byteOffset).toBe(0);
    expect(wrapped.length).toBe(bytes.length);
  });

  it('still encodes ordinary responses', () => {
    const type = RuntimeServiceDefinition.methods.listContainers.responseType;
    const plain = { containers: [container(1)] };
    expect(cri.ListContainersResponse.decode(type.encode(type.fromPartial(plain)).finish())).toEqual(plain);
    expect(cri.ListContainersResponse.decode(new PreEncodedList([]).encode())).toEqual({ containers: [] });
  });
});

describe('PreEncodedListCache', () => {
  const parts = [0, 1, 2].map((i) => cri.Container.encode(container(i)).finish());

  it('answers the same parts with the same bytes, without encoding again', () => {
    const cache = new PreEncodedListCache();
    const first = cache.answer(parts);
    const bytes = first.encode();
    const again = cache.answer([...parts]);
    expect(again).toBe(first);
    expect(again.encode()).toBe(bytes);
  });

  it('makes a new answer when a part, the order or the count changes', () => {
    const cache = new PreEncodedListCache();
    const first = cache.answer(parts);
    const changed = cri.Container.encode({ ...container(1), state: cri.ContainerState.CONTAINER_EXITED }).finish();
    const cases = [[parts[0]!, changed, parts[2]!], [parts[1]!, parts[0]!, parts[2]!], parts.slice(0, 2), []];
    for (const next of cases) {
      const answer = cache.answer(next);
      expect(answer).not.toBe(first);
      expect(cri.ListContainersResponse.decode(answer.encode()).containers).toEqual(next.map((p) => cri.Container.decode(p)));
    }
  });

  it('does not reuse an answer whose parts are equal in content but are other encodings', () => {
    // Identity, not content: a container encoded again means its state changed since.
    const cache = new PreEncodedListCache();
    const first = cache.answer(parts);
    expect(cache.answer(parts.map((p) => Uint8Array.from(p)))).not.toBe(first);
  });
});

describe('pre-encoded ContainerStatus', () => {
  it('passes the bytes through and still encodes ordinary responses', () => {
    const type = RuntimeServiceDefinition.methods.containerStatus.responseType;
    const res = status('c1');
    const bytes = cri.ContainerStatusResponse.encode(res).finish();
    const pre = new PreEncodedMessage(bytes);
    expect(type.encode(type.fromPartial(pre as unknown as cri.ContainerStatusResponse)).finish()).toBe(bytes);
    expect(type.decode(type.encode(type.fromPartial(res)).finish())).toEqual(res);
  });
});

describe('pre-encoded answers over gRPC', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'crisp-pre-encoded-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reach a client as the plain answers do', async () => {
    const items = [container(1), container(2)];
    const server = createServer();
    server.add(
      RuntimeServiceDefinition,
      withUnimplemented<cri.RuntimeServiceImplementation>(RuntimeServiceDefinition, {
        listContainers: async (req) =>
          req.filter?.id === 'plain'
            ? { containers: items }
            : (new PreEncodedList(items.map((c) => cri.Container.encode(c).finish())) as unknown as cri.ListContainersResponse),
        containerStatus: async (req) =>
          req.verbose ? status(req.containerId) : (new PreEncodedMessage(cri.ContainerStatusResponse.encode(status(req.containerId)).finish()) as unknown as cri.ContainerStatusResponse),
      }),
    );
    const socket = `unix://${path.join(dir, 's.sock')}`;
    await server.listen(socket);
    const channel = createChannel(socket);
    try {
      const client = createClient(RuntimeServiceDefinition, channel);
      const pre = await client.listContainers({});
      const plain = await client.listContainers({ filter: { id: 'plain', labelSelector: {} } });
      expect(pre).toEqual({ containers: items });
      expect(pre).toEqual(plain);
      expect(await client.containerStatus({ containerId: 'c7', verbose: false })).toEqual(await client.containerStatus({ containerId: 'c7', verbose: true }));
    } finally {
      channel.close();
      await server.shutdown();
    }
  });
});

describe('compareDecimal', () => {
  it('orders canonical decimals as numbers', () => {
    const values = ['1796318696709799750', '9', '10', '1796318696709799749', '0', '100000000000000000000', '99'];
    const sorted = [...values].sort(compareDecimal);
    expect(sorted).toEqual([...values].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0)));
    expect(compareDecimal('42', '42')).toBe(0);
  });
});
