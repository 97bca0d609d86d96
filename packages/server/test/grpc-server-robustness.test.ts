// crisp's own gRPC server against a buggy or hostile HTTP/2 client, driven with raw frames: resource bounds
// (streams, unread answers, CONTINUATION, tiny DATA frames), stream id rules and flow-control edge cases.
import { cri } from '@crisp/api';
import net from 'node:net';
import { ErrorCode, Flag, frame, FrameType, rstStreamFrame, Setting, settingsFrame, windowUpdateFrame } from '../src/grpc-server/frames';
import { MAX_CONCURRENT_STREAMS } from '../src/grpc-server/connection';
import * as wire from '../src/grpc-server/wire';
import {
  clientPreface,
  complete,
  field,
  goawayCode,
  grpcRequestHeaders,
  isGoaway,
  isPingAck,
  pingPayload,
  RawClient,
  startServer,
  TestServer,
  VERSION_PATH,
  versionCall,
  versionRequest,
} from './grpc-test-service';

type Runtime = cri.RuntimeServiceImplementation;

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  jest.restoreAllMocks();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(runtime: Partial<Runtime>): Promise<TestServer> {
  const ts = await startServer((s) => s.add(cri.RuntimeServiceDefinition, complete<Runtime>(cri.RuntimeServiceDefinition, runtime)));
  cleanups.push(() => ts.close());
  return ts;
}

async function rawClient(ts: TestServer): Promise<RawClient> {
  const c = await RawClient.connect(ts.path);
  cleanups.push(() => c.destroy());
  return c;
}

const echo: Partial<Runtime> = { version: async (req) => ({ version: `echo:${req.version}` }) };




/** The frames the server sent on `id`, as [type, flags & END_STREAM, RST_STREAM code or undefined]. */
function onStream(c: RawClient, id: number): Array<[number, number, number | undefined]> {
  return c.frames
    .filter((f) => f.streamId === id)
    .map((f) => [f.type, f.flags & Flag.END_STREAM, f.type === FrameType.RST_STREAM ? f.payload.readUInt32BE(0) : undefined]);
}

async function versionAnswer(c: RawClient, id: number): Promise<string> {
  await c.waitFor((f) => f.streamId === id && f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0);
  return cri.VersionResponse.decode(c.data(id).subarray(5)).version;
}

describe('resource bounds', () => {
  it('advertises SETTINGS_MAX_CONCURRENT_STREAMS and refuses streams beyond it with REFUSED_STREAM', async () => {
    const c = await rawClient(await serve(echo));
    // Requests whose DATA never comes: each stream stays open.
    const opened: Buffer[] = [clientPreface()];
    for (let i = 0; i < MAX_CONCURRENT_STREAMS + 2; i++) opened.push(frame(FrameType.HEADERS, Flag.END_HEADERS, 1 + 2 * i, grpcRequestHeaders(VERSION_PATH)));
    c.write(Buffer.concat(opened));
    await c.barrier(1);
    const settings = c.frames.find((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0)!;
    const advertised = new Map<number, number>();
    for (let at = 0; at < settings.payload.length; at += 6) advertised.set(settings.payload.readUInt16BE(at), settings.payload.readUInt32BE(at + 2));
    expect(advertised.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(MAX_CONCURRENT_STREAMS);
    const lastOpen = 1 + 2 * (MAX_CONCURRENT_STREAMS - 1);
    expect(onStream(c, lastOpen)).toEqual([]);
    expect(onStream(c, lastOpen + 2)).toEqual([[FrameType.RST_STREAM, 0, ErrorCode.REFUSED_STREAM]]);
    expect(onStream(c, lastOpen + 4)).toEqual([[FrameType.RST_STREAM, 0, ErrorCode.REFUSED_STREAM]]);
    // Late DATA of a refused stream is dropped; a stream that ends makes room for the next one.
    c.write(frame(FrameType.DATA, Flag.END_STREAM, lastOpen + 2, versionRequest('refused')));
    c.write(frame(FrameType.DATA, Flag.END_STREAM, 1, versionRequest('first')));
    expect(await versionAnswer(c, 1)).toBe('echo:first');
    const next = lastOpen + 6;
    c.write(versionCall(next, 'next'));
    expect(await versionAnswer(c, next)).toBe('echo:next');
  });

  it('stops reading a client that floods PINGs without reading the ACKs, and answers them all once it reads', async () => {
    const ts = await serve(echo);
    const c = await rawClient(ts);
    c.socket.pause();
    const count = 200_000; // 3.4 MB of PINGs, as many bytes of ACKs
    const flood = Buffer.alloc(count * 17);
    for (let i = 0; i < count; i++) frame(FrameType.PING, 0, 0, pingPayload(i)).copy(flood, i * 17);
    c.write(Buffer.concat([clientPreface(), flood]));
    // A server that reads everything takes all of it, and holds the ACKs in memory: the client's buffer empties.
    let last = -1;
    for (let stable = 0; stable < 4 && c.socket.writableLength > 0; ) {
      await new Promise((r) => setTimeout(r, 100));
      stable = c.socket.writableLength === last ? stable + 1 : 0;
      last = c.socket.writableLength;
    }
    expect(c.socket.writableLength).toBeGreaterThan(1 << 20);
    // What the server holds unsent stays near the pause threshold (1 MiB), not the 3.4 MB asked for.
    const [conn] = (ts.server as unknown as { connections: Set<{ socket: net.Socket }> }).connections;
    expect(conn!.socket.writableLength).toBeLessThan(1.5 * (1 << 20));
    // Once the client reads, the server reads again and every PING is answered.
    c.socket.resume();
    await c.waitFor(isPingAck(pingPayload(count - 1)));
    expect(c.frames.filter((f) => f.type === FrameType.PING).length).toBe(count);
    c.write(versionCall(1, 'after'));
    expect(await versionAnswer(c, 1)).toBe('echo:after');
  }, 20_000);

  it('answers a header block in too many CONTINUATION frames (empty ones too) with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const c = await rawClient(await serve(echo));
    const block = grpcRequestHeaders(VERSION_PATH);
    const empties = Array.from({ length: 5000 }, () => frame(FrameType.CONTINUATION, 0, 1));
    c.write(
      Buffer.concat([
        clientPreface(),
        frame(FrameType.HEADERS, 0, 1, block),
        ...empties,
        frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1),
        frame(FrameType.DATA, Flag.END_STREAM, 1, versionRequest('v')),
      ]),
    );
    const first = await c.waitFor((f) => isGoaway(f) || f.streamId === 1);
    expect(first.type).toBe(FrameType.GOAWAY);
    expect(goawayCode(first)).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  it('still takes a header block in a few dozen CONTINUATION frames', async () => {
    const c = await rawClient(await serve(echo));
    const block = grpcRequestHeaders(VERSION_PATH, [['x-pad', 'p'.repeat(50_000)]]);
    const parts: Buffer[] = [];
    for (let at = 0; at < block.length; at += 1500) parts.push(block.subarray(at, at + 1500));
    expect(parts.length).toBeGreaterThan(30);
    c.write(
      Buffer.concat([
        clientPreface(),
        ...parts.map((p, i) => frame(i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, i === parts.length - 1 ? Flag.END_HEADERS : 0, 1, p)),
        frame(FrameType.DATA, Flag.END_STREAM, 1, versionRequest('many')),
      ]),
    );
    expect(await versionAnswer(c, 1)).toBe('echo:many');
  });

  it('holds a request sent in 1-byte DATA frames in few buffers, and decodes it', async () => {
    const spy = jest.spyOn(wire, 'singleMessage');
    const c = await rawClient(await serve(echo));
    const message = versionRequest('x'.repeat(10_000));
    const frames: Buffer[] = [clientPreface(), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, grpcRequestHeaders(VERSION_PATH))];
    for (let i = 0; i < message.length; i++) frames.push(frame(FrameType.DATA, i === message.length - 1 ? Flag.END_STREAM : 0, 1, message.subarray(i, i + 1)));
    c.write(Buffer.concat(frames));
    expect(await versionAnswer(c, 1)).toBe(`echo:${'x'.repeat(10_000)}`);
    expect(spy).toHaveBeenCalledTimes(1);
    const [chunks, total] = spy.mock.calls[0]!;
    expect(total).toBe(message.length);
    expect(chunks.length).toBeLessThan(message.length / 32);
  });

  it('aborts handlers and answers nothing for streams the client opens and resets at once, many times', async () => {
    let started = 0;
    let aborted = 0;
    const ts = await serve({
      version: async (_req, context) => {
        started++;
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        aborted++;
        return { version: 'late' };
      },
    });
    const c = await rawClient(ts);
    const frames: Buffer[] = [clientPreface()];
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const id = 1 + 2 * i;
      frames.push(versionCall(id, 'r'), rstStreamFrame(id, ErrorCode.CANCEL));
    }
    c.write(Buffer.concat(frames));
    await c.barrier(1);
    // Each handler that started (a reset in a later read than its request) was aborted; nothing was answered.
    expect(started).toBe(aborted);
    expect(c.frames.filter((f) => f.streamId !== 0)).toEqual([]);
    const id = 1 + 2 * n;
    c.write(versionCall(id, 'r'));
    await new Promise<void>((r) => {
      const poll = (): void => void (started > aborted ? r() : setTimeout(poll, 5));
      poll();
    });
    c.write(rstStreamFrame(id, ErrorCode.CANCEL));
    await c.barrier(2);
    expect(aborted).toBe(started);
    expect(ts.errors).toEqual([]);
  });
});

describe('stream ids', () => {
  it('answers HEADERS that open a stream on a used id with GOAWAY PROTOCOL_ERROR, and ignores trailers on one', async () => {
    const c = await rawClient(await serve(echo));
    c.write(Buffer.concat([clientPreface(), versionCall(3, 'v')]));
    expect(await versionAnswer(c, 3)).toBe('echo:v');
    // Trailers (END_STREAM) on a closed stream may be late: ignored.
    c.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, Buffer.from([0x40, 1, 0x78, 1, 0x79])));
    await c.barrier(1);
    expect(c.frames.some(isGoaway)).toBe(false);
    // A request on stream 1, below the last stream: a connection error, not a call that never answers.
    c.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, grpcRequestHeaders(VERSION_PATH)));
    c.write(frame(FrameType.PING, 0, 0, pingPayload(2)));
    const g = await c.waitFor((f) => isGoaway(f) || isPingAck(pingPayload(2))(f));
    expect(g.type).toBe(FrameType.GOAWAY);
    expect(goawayCode(g)).toBe(ErrorCode.PROTOCOL_ERROR);
  });
});

describe('flow control edge cases', () => {
  it('lets SETTINGS_INITIAL_WINDOW_SIZE make an open stream window negative, and sends only once it is positive again', async () => {
    const big = 'n'.repeat(500);
    const c = await rawClient(await serve({ version: async () => ({ version: big }) }));
    c.write(Buffer.concat([clientPreface([[Setting.INITIAL_WINDOW_SIZE, 100]]), versionCall(1, '')]));
    await c.waitFor((f) => f.streamId === 1 && f.type === FrameType.HEADERS);
    await c.barrier(1);
    expect(c.data(1).length).toBe(100);
    // 100 sent, window now 10 - 100 = -90: 90 more credit only brings it to 0.
    c.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 10]]));
    c.write(windowUpdateFrame(1, 90));
    await c.barrier(2);
    expect(c.data(1).length).toBe(100);
    c.write(windowUpdateFrame(1, 5));
    await c.barrier(3);
    expect(c.data(1).length).toBe(105);
    c.write(windowUpdateFrame(1, 10_000));
    expect(await versionAnswer(c, 1)).toBe(big);
  });

  it('resets the stream for a stream WINDOW_UPDATE of 0 or past 2^31-1, and ends the connection for one on stream 0', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const ts = await serve({
      version: async (req) => {
        await released;
        return { version: req.version };
      },
    });
    const c = await rawClient(ts);
    const open = (id: number): Buffer =>
      Buffer.concat([versionCall(id, String(id))]);
    c.write(Buffer.concat([clientPreface(), open(1), open(3), open(5)]));
    await c.barrier(1);
    c.write(windowUpdateFrame(1, 0));
    c.write(windowUpdateFrame(3, 2 ** 31 - 1));
    await c.barrier(2);
    expect(onStream(c, 1)).toEqual([[FrameType.RST_STREAM, 0, ErrorCode.PROTOCOL_ERROR]]);
    expect(onStream(c, 3)).toEqual([[FrameType.RST_STREAM, 0, ErrorCode.FLOW_CONTROL_ERROR]]);
    release();
    expect(await versionAnswer(c, 5)).toBe('5');
    expect(ts.errors).toEqual([]);
    c.write(windowUpdateFrame(0, 2 ** 31 - 1));
    const g = await c.waitFor(isGoaway);
    expect(goawayCode(g)).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    expect(field(c.headerBlocks(5)[1]!, 'grpc-status')).toBe('0');
  });
});

describe('RFC 9113 rules the server keeps', () => {
  it('resets with STREAM_CLOSED a stream that sends DATA after END_STREAM, aborting its handler; takes client trailers as the end', async () => {
    let aborted!: () => void;
    const abortedP = new Promise<void>((r) => (aborted = r));
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const ts = await serve({
      version: async (req, context) => {
        if (req.version === 'trailers') return { version: 'ok' };
        started();
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
        aborted();
        return { version: 'late' };
      },
    });
    const c = await rawClient(ts);
    c.write(Buffer.concat([clientPreface(), versionCall(1, 'v')]));
    await startedP;
    c.write(frame(FrameType.DATA, 0, 1, Buffer.from('more')));
    await abortedP;
    await c.barrier(1);
    expect(onStream(c, 1)).toEqual([[FrameType.RST_STREAM, 0, ErrorCode.STREAM_CLOSED]]);
    // A request ended by a trailers HEADERS (END_STREAM) instead of END_STREAM on DATA.
    c.write(
      Buffer.concat([
        frame(FrameType.HEADERS, Flag.END_HEADERS, 3, grpcRequestHeaders(VERSION_PATH)),
        frame(FrameType.DATA, 0, 3, versionRequest('trailers')),
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, Buffer.from([0x00, 1, 0x78, 1, 0x79])),
      ]),
    );
    expect(await versionAnswer(c, 3)).toBe('ok');
    expect(ts.errors).toEqual([]);
  });

  it('answers HEADERS on an even stream, and DATA on an idle stream, with GOAWAY PROTOCOL_ERROR', async () => {
    for (const bad of [frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 2, grpcRequestHeaders(VERSION_PATH)), frame(FrameType.DATA, 0, 7, Buffer.from('x'))]) {
      const c = await rawClient(await serve(echo));
      c.write(Buffer.concat([clientPreface(), bad]));
      expect(goawayCode(await c.waitFor(isGoaway))).toBe(ErrorCode.PROTOCOL_ERROR);
      await c.closed();
    }
  });

  it('sends DATA frames as large as the client SETTINGS_MAX_FRAME_SIZE allows, and no larger', async () => {
    const big = 'm'.repeat(300_000);
    const c = await rawClient(await serve({ version: async () => ({ version: big }) }));
    c.write(
      Buffer.concat([
        clientPreface([
          [Setting.MAX_FRAME_SIZE, 65_536],
          [Setting.INITIAL_WINDOW_SIZE, 1 << 20],
        ]),
        windowUpdateFrame(0, 1 << 20),
        versionCall(1, ''),
      ]),
    );
    expect(await versionAnswer(c, 1)).toBe(big);
    const sizes = c.frames.filter((f) => f.type === FrameType.DATA).map((f) => f.payload.length);
    expect(Math.max(...sizes)).toBe(65_536);
  });
});
