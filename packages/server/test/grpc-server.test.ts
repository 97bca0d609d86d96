// crisp's own gRPC server (src/grpc-server) against the real client kubelet's side looks like here:
// grpc-js (through nice-grpc) on a unix socket, serving the generated CRI and health definitions.
import { cri, health } from '@crisp/api';
import * as grpc from '@grpc/grpc-js';
import { ChannelCredentials, createChannel, createClient } from 'nice-grpc';
import type { Channel } from 'nice-grpc';
import { CallContext, ClientError, Metadata, ServerError, ServerMiddleware, Status } from 'nice-grpc-common';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import type { GrpcServer, GrpcServerOptions } from '../src/grpc-server/server';
import { complete, startServer, TestServer } from './grpc-test-service';

type Runtime = cri.RuntimeServiceImplementation;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  ts: TestServer;
  channel: Channel;
  runtime: cri.RuntimeServiceClient;
  health: health.HealthClient;
}

async function setup(
  runtime: Partial<Runtime>,
  options: GrpcServerOptions & { channelOptions?: grpc.ChannelOptions; before?: (s: GrpcServer) => void; healthImpl?: Partial<health.HealthServiceImplementation> } = {},
): Promise<Setup> {
  const { channelOptions, before, healthImpl, ...serverOptions } = options;
  const ts = await startServer((server) => {
    before?.(server);
    server.add(cri.RuntimeServiceDefinition, complete<Runtime>(cri.RuntimeServiceDefinition, runtime));
    server.add(health.HealthDefinition, complete<health.HealthServiceImplementation>(health.HealthDefinition, healthImpl ?? {}));
  }, serverOptions);
  cleanups.push(() => ts.close());
  const channel = createChannel(ts.address, ChannelCredentials.createInsecure(), channelOptions);
  cleanups.push(() => channel.close());
  return {
    ts,
    channel,
    runtime: createClient(cri.RuntimeServiceDefinition, channel),
    health: createClient(health.HealthDefinition, channel),
  };
}

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ClientError);
    return err as ClientError;
  }
  throw new Error('the call succeeded');
}

/** Resolves when `signal` aborts. */
const aborted = (signal: AbortSignal): Promise<void> =>
  signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));

/** A promise and its resolver. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A string of `n` characters that is not one repeated byte, so misplaced chunks show. */
function patterned(n: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; s.length < n; i++) s += alphabet[i % alphabet.length]! + String(i % 997);
  return s.slice(0, n);
}

const echoVersion: Partial<Runtime> = {
  version: async (req) => ({ version: `echo:${req.version}`, runtimeName: 'crisp', runtimeVersion: '1', runtimeApiVersion: 'v1' }),
};

describe('unary calls', () => {
  it('answers a call with the decoded request', async () => {
    const { runtime, health: h } = await setup(echoVersion, { healthImpl: { check: async (req) => ({ status: req.service === 'x' ? 1 : 2 }) } });
    await expect(runtime.version({ version: 'v1' })).resolves.toEqual({ version: 'echo:v1', runtimeName: 'crisp', runtimeVersion: '1', runtimeApiVersion: 'v1' });
    await expect(h.check({ service: 'x' })).resolves.toEqual({ status: health.HealthCheckResponse_ServingStatus.SERVING });
    await expect(h.check({ service: 'y' })).resolves.toEqual({ status: health.HealthCheckResponse_ServingStatus.NOT_SERVING });
  });

  it('answers 200 concurrent calls on one channel, each with its own answer', async () => {
    let concurrent = 0;
    let most = 0;
    const { runtime } = await setup({
      version: async (req) => {
        concurrent++;
        most = Math.max(most, concurrent);
        // Yield to the event loop so the calls overlap on the connection.
        await new Promise((r) => setImmediate(r));
        concurrent--;
        return { version: `echo:${req.version}` };
      },
    });
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => runtime.version({ version: `n${i}` })));
    expect(answers.map((a) => a.version)).toEqual(Array.from({ length: 200 }, (_, i) => `echo:n${i}`));
    expect(most).toBeGreaterThan(1);
  });

  it('sends an error status with the exact code and message (unicode, %, newline)', async () => {
    const details = 'pod «ünïcødé» ✓ is 100% gone\nsecond line %41 and\ttab';
    const { runtime } = await setup({
      version: async () => {
        throw new ServerError(Status.NOT_FOUND, details);
      },
    });
    const err = await rejection(runtime.version({ version: 'v1' }));
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toBe(details);
  });

  it('answers UNKNOWN for a thrown error that is not a ServerError', async () => {
    const { runtime } = await setup({
      version: async () => {
        throw new TypeError('oops');
      },
    });
    const err = await rejection(runtime.version({ version: 'v1' }));
    expect(err.code).toBe(Status.UNKNOWN);
    expect(err.details).toContain('oops');
  });

  it('answers UNIMPLEMENTED for a method of a service it does not serve, and goes on serving', async () => {
    const { channel, runtime } = await setup(echoVersion);
    const images = createClient(cri.ImageServiceDefinition, channel);
    const err = await rejection(images.imageFsInfo({}));
    expect(err.code).toBe(Status.UNIMPLEMENTED);
    expect(err.details).toContain('/runtime.v1.ImageService/ImageFsInfo');
    // A method the definition has but the implementation left out.
    expect((await rejection(runtime.status({}))).code).toBe(Status.UNIMPLEMENTED);
    await expect(runtime.version({ version: 'after' })).resolves.toMatchObject({ version: 'echo:after' });
  });
});

describe('message sizes and flow control', () => {
  it('sends a response of several MB (far over the 65535-byte default window) intact', async () => {
    const big = patterned(6 * 1024 * 1024 + 17);
    const { runtime } = await setup(
      { version: async () => ({ version: big }) },
      { maxSendMessageBytes: 16 << 20, channelOptions: { 'grpc.max_receive_message_length': 16 << 20 } },
    );
    const [a, b] = await Promise.all([runtime.version({}), runtime.version({})]);
    expect(a.version.length).toBe(big.length);
    expect(a.version === big).toBe(true);
    expect(b.version === big).toBe(true);
  });

  it('receives a request of several MB intact', async () => {
    const big = patterned(3 * 1024 * 1024 + 5);
    const { runtime } = await setup({ version: async (req) => ({ version: String(req.version === big) }) }, { maxReceiveMessageBytes: 8 << 20 });
    await expect(runtime.version({ version: big })).resolves.toMatchObject({ version: 'true' });
  });

  it('answers RESOURCE_EXHAUSTED to a request over maxReceiveMessageBytes without calling the handler', async () => {
    let calls = 0;
    const { runtime } = await setup(
      {
        version: async (req) => {
          calls++;
          return { version: String(req.version.length) };
        },
      },
      { maxReceiveMessageBytes: 1024 },
    );
    const err = await rejection(runtime.version({ version: 'x'.repeat(200_000) }));
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(calls).toBe(0);
    // The connection is still good, and a request under the limit passes.
    await expect(runtime.version({ version: 'x'.repeat(1000) })).resolves.toMatchObject({ version: '1000' });
    expect(calls).toBe(1);
  });

  it('answers RESOURCE_EXHAUSTED when the response is over maxSendMessageBytes', async () => {
    const { runtime } = await setup({ version: async (req) => ({ version: 'y'.repeat(Number(req.version)) }) }, { maxSendMessageBytes: 1024 });
    const err = await rejection(runtime.version({ version: '5000' }));
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    await expect(runtime.version({ version: '100' })).resolves.toMatchObject({ version: 'y'.repeat(100) });
  });
});

describe('deadlines and cancellation', () => {
  it('ends a call at its grpc-js deadline with DEADLINE_EXCEEDED and aborts the handler', async () => {
    const started = deferred();
    let handlerSignal: AbortSignal | undefined;
    const { ts } = await setup({
      version: async (_req, context) => {
        handlerSignal = context.signal;
        started.resolve();
        await aborted(context.signal);
        return { version: 'late' };
      },
    });
    // nice-grpc has no deadline of its own (that is a middleware package); grpc-js sends grpc-timeout.
    const client = new grpc.Client(ts.address, grpc.credentials.createInsecure());
    cleanups.push(() => client.close());
    const status = await new Promise<grpc.ServiceError>((resolve, reject) => {
      client.makeUnaryRequest(
        '/runtime.v1.RuntimeService/Version',
        (v: cri.VersionRequest) => Buffer.from(cri.VersionRequest.encode(v).finish()),
        (b: Buffer) => cri.VersionResponse.decode(b),
        { version: 'v1' },
        new grpc.Metadata(),
        { deadline: Date.now() + 300 },
        (err) => (err ? resolve(err) : reject(new Error('the call succeeded'))),
      );
    });
    expect(status.code).toBe(Status.DEADLINE_EXCEEDED);
    await started.promise;
    await aborted(handlerSignal!);
    expect(handlerSignal!.aborted).toBe(true);
  });

  it('aborts the handler when the client cancels', async () => {
    const started = deferred();
    const handlerAborted = deferred();
    const { runtime } = await setup({
      version: async (_req, context) => {
        started.resolve();
        await aborted(context.signal);
        handlerAborted.resolve();
        return { version: 'late' };
      },
    });
    const ac = new AbortController();
    const call = runtime.version({ version: 'v1' }, { signal: ac.signal });
    await started.promise;
    ac.abort();
    await expect(call).rejects.toThrow();
    await handlerAborted.promise;
  });
});

describe('server streaming', () => {
  it('sends 1000 messages in order, then OK', async () => {
    const { runtime } = await setup({
      async *getContainerEvents() {
        for (let i = 0; i < 1000; i++) yield { containerId: `c${i}` };
      },
    });
    const got: string[] = [];
    for await (const ev of runtime.getContainerEvents({})) got.push(ev.containerId);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => `c${i}`));
  });

  it('serves health Watch', async () => {
    const { health: h } = await setup(
      {},
      {
        healthImpl: {
          async *watch(req) {
            yield { status: health.HealthCheckResponse_ServingStatus.SERVING };
            if (req.service === 'flappy') yield { status: health.HealthCheckResponse_ServingStatus.NOT_SERVING };
          },
        },
      },
    );
    const got: number[] = [];
    for await (const r of h.watch({ service: 'flappy' })) got.push(r.status);
    expect(got).toEqual([health.HealthCheckResponse_ServingStatus.SERVING, health.HealthCheckResponse_ServingStatus.NOT_SERVING]);
  });

  it('ends OK a stream that sends no message', async () => {
    const { runtime } = await setup({
      // eslint-disable-next-line require-yield
      async *getContainerEvents() {
        return;
      },
    });
    const got: unknown[] = [];
    for await (const ev of runtime.getContainerEvents({})) got.push(ev);
    expect(got).toEqual([]);
  });

  it('ends with the status of an error thrown after some messages', async () => {
    const { runtime } = await setup({
      async *getContainerEvents() {
        for (let i = 0; i < 5; i++) yield { containerId: `c${i}` };
        throw new ServerError(Status.ABORTED, 'stopped halfway');
      },
    });
    const got: string[] = [];
    let error: unknown;
    try {
      for await (const ev of runtime.getContainerEvents({})) got.push(ev.containerId);
    } catch (err) {
      error = err;
    }
    expect(got).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe(Status.ABORTED);
    expect((error as ClientError).details).toBe('stopped halfway');
  });

  it('ends with RESOURCE_EXHAUSTED for a message over the limit mid-stream, and the handler is unwound', async () => {
    const unwound = deferred();
    const { runtime } = await setup(
      {
        async *getContainerEvents() {
          try {
            yield { containerId: 'small' };
            yield { containerId: 'z'.repeat(5000) };
            yield { containerId: 'never' };
          } finally {
            unwound.resolve();
          }
        },
      },
      { maxSendMessageBytes: 1024 },
    );
    const got: string[] = [];
    let error: unknown;
    try {
      for await (const ev of runtime.getContainerEvents({})) got.push(ev.containerId);
    } catch (err) {
      error = err;
    }
    expect(got).toEqual(['small']);
    expect((error as ClientError).code).toBe(Status.RESOURCE_EXHAUSTED);
    await unwound.promise;
  });

  it('stops producing for a client that stops reading, and cancelling ends the handler', async () => {
    let produced = 0;
    const finallyRan = deferred();
    const { runtime } = await setup({
      async *getContainerEvents(_req, context) {
        try {
          for (;;) {
            produced++;
            yield { containerId: String(produced).padEnd(64 * 1024, '.') };
            if (context.signal.aborted) return;
          }
        } finally {
          finallyRan.resolve();
        }
      },
    });
    const ac = new AbortController();
    const it = runtime.getContainerEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
    for (let i = 1; i <= 3; i++) {
      const r = await it.next();
      expect(r.value?.containerId.startsWith(`${i}.`)).toBe(true);
    }
    // Let the server run until it stalls (or runs away): the count must stop well short of unbounded.
    let last = -1;
    while (produced !== last && produced < 300) {
      last = produced;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(produced).toBeLessThan(300);
    ac.abort();
    // What the client already buffered may still come out; then the iterator fails with the abort.
    let ended: unknown;
    for (let i = 0; i < 1000 && ended === undefined; i++) await it.next().then((r) => r.done && (ended = 'done'), (err: unknown) => (ended = err));
    expect(ended).toBeInstanceOf(Error);
    await finallyRan.promise;
    const after = produced;
    await new Promise((r) => setImmediate(r));
    expect(produced).toBe(after);
  });
});

describe('middleware', () => {
  it('sees the method path and maps errors, for unary and streaming methods', async () => {
    const seen: string[] = [];
    const mapper: ServerMiddleware = async function* (call, context) {
      seen.push(call.method.path);
      try {
        return yield* call.next(call.request, context);
      } catch (err) {
        if (err instanceof Error && err.message === 'map me') throw new ServerError(Status.FAILED_PRECONDITION, `mapped ${call.method.path}`);
        throw err;
      }
    };
    const { runtime } = await setup(
      {
        version: async (req) => {
          if (req.version === 'fail') throw new Error('map me');
          return { version: 'ok' };
        },
        async *getContainerEvents() {
          yield { containerId: 'one' };
          throw new Error('map me');
        },
      },
      { before: (s) => s.use(mapper) },
    );
    await expect(runtime.version({ version: 'v' })).resolves.toMatchObject({ version: 'ok' });
    const err = await rejection(runtime.version({ version: 'fail' }));
    expect(err.code).toBe(Status.FAILED_PRECONDITION);
    expect(err.details).toBe('mapped /runtime.v1.RuntimeService/Version');
    const got: string[] = [];
    const streamErr = await rejection(
      (async () => {
        for await (const ev of runtime.getContainerEvents({})) got.push(ev.containerId);
      })(),
    );
    expect(got).toEqual(['one']);
    expect(streamErr.code).toBe(Status.FAILED_PRECONDITION);
    expect(seen).toEqual(['/runtime.v1.RuntimeService/Version', '/runtime.v1.RuntimeService/Version', '/runtime.v1.RuntimeService/GetContainerEvents']);
  });
});

describe('metadata', () => {
  it('gives the handler request metadata (text and -bin) and sends its header and trailer metadata', async () => {
    let seen: { custom?: string[]; bin?: Uint8Array[]; transport?: boolean } = {};
    const { runtime } = await setup({
      version: async (_req, context: CallContext) => {
        seen = {
          custom: context.metadata.getAll('x-custom'),
          bin: context.metadata.getAll('x-data-bin') as Uint8Array[],
          transport: context.metadata.has('content-type') || context.metadata.has('te') || context.metadata.has(':path'),
        };
        context.header.set('x-header', 'header value');
        context.header.set('x-header-bin', Uint8Array.from([1, 2, 3, 250]));
        context.trailer.set('x-trailer', 'trailer value');
        context.trailer.set('x-trailer-bin', Uint8Array.from([0, 255, 7]));
        return { version: 'ok' };
      },
    });
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    await runtime.version(
      {},
      {
        metadata: Metadata({ 'x-custom': 'hello world', 'x-data-bin': Uint8Array.from([0, 1, 2, 255, 254]) }),
        onHeader: (h) => (header = h),
        onTrailer: (t) => (trailer = t),
      },
    );
    expect(seen.custom).toEqual(['hello world']);
    expect(seen.bin?.map((b) => [...b])).toEqual([[0, 1, 2, 255, 254]]);
    expect(seen.transport).toBe(false);
    expect(header?.get('x-header')).toBe('header value');
    expect([...(header?.get('x-header-bin') as Uint8Array)]).toEqual([1, 2, 3, 250]);
    expect(trailer?.get('x-trailer')).toBe('trailer value');
    expect([...(trailer?.get('x-trailer-bin') as Uint8Array)]).toEqual([0, 255, 7]);
  });

  it('sends trailer metadata with an error status', async () => {
    const { runtime } = await setup({
      version: async (_req, context) => {
        context.trailer.set('x-why', 'because');
        throw new ServerError(Status.PERMISSION_DENIED, 'no');
      },
    });
    let trailer: Metadata | undefined;
    const err = await rejection(runtime.version({}, { onTrailer: (t) => (trailer = t) }));
    expect(err.code).toBe(Status.PERMISSION_DENIED);
    expect(trailer?.get('x-why')).toBe('because');
  });
});

describe('compression', () => {
  it('decodes gzip-compressed requests from grpc-js', async () => {
    const { ts } = await setup({ version: async (req) => ({ version: `${req.version.length}:${req.version.slice(0, 3)}` }) });
    // A proxy in front of the server counts the bytes the client sends: compressed, they are few.
    let clientBytes = 0;
    const proxyPath = path.join(path.dirname(ts.path), 'proxy.sock');
    const pairs = new Set<net.Socket>();
    const proxy = net.createServer((down) => {
      const up = net.connect(ts.path);
      pairs.add(down).add(up);
      down.on('data', (c: Buffer) => (clientBytes += c.length));
      down.pipe(up).pipe(down);
      down.on('error', () => up.destroy());
      up.on('error', () => down.destroy());
    });
    proxy.listen(proxyPath);
    await once(proxy, 'listening');
    cleanups.push(() => {
      for (const s of pairs) s.destroy();
      proxy.close();
    });
    const channel = createChannel(`unix://${proxyPath}`, ChannelCredentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
    cleanups.push(() => channel.close());
    const runtime = createClient(cri.RuntimeServiceDefinition, channel);
    const answers = await Promise.all([runtime.version({ version: 'a'.repeat(1_000_000) }), runtime.version({ version: 'b'.repeat(500_000) })]);
    expect(answers.map((a) => a.version)).toEqual(['1000000:aaa', '500000:bbb']);
    expect(clientBytes).toBeLessThan(100_000);
  });
});

describe('shutdown', () => {
  it('shutdown() lets an in-flight call finish and answer, then resolves; later calls fail', async () => {
    const started = deferred();
    const release = deferred();
    const { ts, runtime } = await setup({
      version: async (req) => {
        if (req.version === 'slow') {
          started.resolve();
          await release.promise;
        }
        return { version: `done:${req.version}` };
      },
    });
    const events: string[] = [];
    const call = runtime.version({ version: 'slow' }).then((r) => events.push(`answered ${r.version}`));
    await started.promise;
    const shut = ts.server.shutdown().then(() => events.push('shut down'));
    const later = await rejection(runtime.version({ version: 'later' }));
    expect(later.code).toBe(Status.UNAVAILABLE);
    expect(events).toEqual([]);
    release.resolve();
    await Promise.all([call, shut]);
    expect(events).toEqual(['answered done:slow', 'shut down']);
  });

  it('shutdown() with no calls in flight resolves once the idle client is gone', async () => {
    const { ts, runtime } = await setup(echoVersion);
    await runtime.version({ version: 'x' });
    await ts.server.shutdown();
    expect((await rejection(runtime.version({ version: 'y' }))).code).toBe(Status.UNAVAILABLE);
  });

  it('forceShutdown() aborts the signal of an in-flight handler', async () => {
    const started = deferred();
    const handlerAborted = deferred();
    const { ts, runtime } = await setup({
      version: async (_req, context) => {
        started.resolve();
        await aborted(context.signal);
        handlerAborted.resolve();
        return { version: 'late' };
      },
    });
    const call = rejection(runtime.version({}));
    await started.promise;
    ts.server.forceShutdown();
    await handlerAborted.promise;
    expect((await call).code).toBe(Status.UNAVAILABLE);
  });
});
