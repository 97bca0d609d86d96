// crisp's own gRPC server against Node's HTTP/2 client (nghttp2), driven by hand: what grpc-js never sends
// (wrong method or content type, malformed grpc-timeout, two messages) and a client with a tiny window.
import { cri } from '@crisp/api';
import { ServerError, Status } from 'nice-grpc-common';
import http2 from 'node:http2';
import net from 'node:net';
import zlib from 'node:zlib';
import { ErrorCode, Flag, frame, FrameType, rstStreamFrame, Setting, settingsFrame, SETTINGS_ACK, windowUpdateFrame } from '../src/grpc-server/frames';
import {
  clientPreface,
  complete,
  field,
  goawayCode,
  grpcMessage,
  grpcRequestHeaders,
  isGoaway,
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
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(runtime: Partial<Runtime>): Promise<TestServer> {
  const ts = await startServer((s) => s.add(cri.RuntimeServiceDefinition, complete<Runtime>(cri.RuntimeServiceDefinition, runtime)));
  cleanups.push(() => ts.close());
  return ts;
}

async function connect(ts: TestServer, settings: http2.Settings = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(ts.path), settings });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (session.closed || session.destroyed) return resolve();
        session.close(() => resolve());
      }),
  );
  session.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

interface Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  data: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer. */
  grpcStatus: number | undefined;
  grpcMessage: string | undefined;
  rstCode: number;
}

function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | Buffer[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      const status = trailers['grpc-status'] ?? responseHeaders['grpc-status'];
      const message = trailers['grpc-message'] ?? responseHeaders['grpc-message'];
      resolve({
        headers: responseHeaders,
        trailers,
        data: Buffer.concat(chunks),
        grpcStatus: status === undefined ? undefined : Number(status),
        grpcMessage: message === undefined ? undefined : String(message),
        rstCode: stream.rstCode ?? 0,
      });
    });
    if (Array.isArray(body)) {
      for (const b of body) stream.write(b);
      stream.end();
    } else if (body !== undefined) {
      stream.end(body);
    }
  });
}

const grpcHeaders = (extra: http2.OutgoingHttpHeaders = {}): http2.OutgoingHttpHeaders => ({
  ':method': 'POST',
  ':path': VERSION_PATH,
  'content-type': 'application/grpc',
  te: 'trailers',
  ...extra,
});

/** The messages of a gRPC response body. */
function messages(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    expect(data[at]).toBe(0);
    const length = data.readUInt32BE(at + 1);
    out.push(data.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}

const echo: Partial<Runtime> = { version: async (req) => ({ version: `echo:${req.version}` }) };

describe('requests that are not gRPC', () => {
  it('answers GET with :status 405 and no gRPC status', async () => {
    const session = await connect(await serve(echo));
    const a = await request(session, { ':method': 'GET', ':path': VERSION_PATH });
    expect(a.headers[':status']).toBe(405);
    expect(a.grpcStatus).toBeUndefined();
    expect(a.rstCode).toBe(0);
  });

  it('answers a POST with content-type text/plain with :status 415', async () => {
    const session = await connect(await serve(echo));
    const a = await request(session, { ':method': 'POST', ':path': VERSION_PATH, 'content-type': 'text/plain' }, Buffer.from('hello'));
    expect(a.headers[':status']).toBe(415);
    for (const contentType of ['application/grpc-web', 'application/grpcx', 'application/json']) {
      const other = await request(session, { ':method': 'POST', ':path': VERSION_PATH, 'content-type': contentType }, versionRequest('v'));
      expect([contentType, other.headers[':status']]).toEqual([contentType, 415]);
    }
    for (const contentType of ['application/grpc+proto', 'application/grpc;charset=utf-8']) {
      const grpcish = await request(session, grpcHeaders({ 'content-type': contentType }), versionRequest('v'));
      expect([contentType, grpcish.grpcStatus]).toEqual([contentType, Status.OK]);
    }
    // The connection is still good for gRPC.
    const ok = await request(session, grpcHeaders(), versionRequest('v'));
    expect(ok.grpcStatus).toBe(Status.OK);
    expect(cri.VersionResponse.decode(messages(ok.data)[0]!).version).toBe('echo:v');
  });
});

describe('HTTP/2 connection', () => {
  it('answers a PING with the same payload', async () => {
    const session = await connect(await serve(echo));
    const payload = Buffer.from('12345678');
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      session.ping(payload, (err, _duration, reply) => (err ? reject(err) : resolve(reply)));
    });
    expect(echoed.equals(payload)).toBe(true);
  });

  it('keeps within a client window of 1024 bytes: a 200 KB answer arrives intact', async () => {
    const big = Array.from({ length: 200 * 1024 }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26))).join('');
    const ts = await serve({ version: async () => ({ version: big }) });
    const session = await connect(ts, { initialWindowSize: 1024 });
    const [a, b] = await Promise.all([request(session, grpcHeaders(), versionRequest('')), request(session, grpcHeaders(), versionRequest(''))]);
    for (const x of [a, b]) {
      expect(x.rstCode).toBe(0);
      expect(x.grpcStatus).toBe(Status.OK);
      const [m] = messages(x.data);
      expect(cri.VersionResponse.decode(m!).version === big).toBe(true);
    }
    expect(ts.errors).toEqual([]);
  });

  it('serves many streams on one session, some with larger headers', async () => {
    const session = await connect(await serve(echo));
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => request(session, grpcHeaders({ 'x-pad': 'p'.repeat(i * 100), 'x-n': String(i) }), versionRequest(`n${i}`))),
    );
    expect(answers.map((a) => cri.VersionResponse.decode(messages(a.data)[0]!).version)).toEqual(Array.from({ length: 50 }, (_, i) => `echo:n${i}`));
  });
});

describe('gRPC details', () => {
  it('answers a malformed grpc-timeout with grpc-status 13 (INTERNAL)', async () => {
    let calls = 0;
    const session = await connect(
      await serve({
        version: async () => {
          calls++;
          return { version: 'x' };
        },
      }),
    );
    for (const timeout of ['1x', '123456789S', 'S', '-1S', '1.5S']) {
      const a = await request(session, grpcHeaders({ 'grpc-timeout': timeout }), versionRequest('v'));
      expect([timeout, a.grpcStatus]).toEqual([timeout, Status.INTERNAL]);
      expect(a.grpcMessage).toContain('grpc-timeout');
    }
    expect(calls).toBe(0);
  });

  it('ends a call at its grpc-timeout on the server side and aborts the handler', async () => {
    let handlerAborted = false;
    const session = await connect(
      await serve({
        version: async (_req, context) => {
          await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
          handlerAborted = true;
          return { version: 'late' };
        },
      }),
    );
    const a = await request(session, grpcHeaders({ 'grpc-timeout': '50m' }), versionRequest('v'));
    expect(a.grpcStatus).toBe(Status.DEADLINE_EXCEEDED);
    expect(handlerAborted).toBe(true);
  });

  it('serves a call whose grpc-timeout is longer than a Node timer can wait (years)', async () => {
    const session = await connect(
      await serve({
        version: async (req, context) => {
          // Long enough that a timer clamped to 1 ms would fire first.
          await new Promise((r) => setTimeout(r, 30));
          return { version: `aborted=${context.signal.aborted} ${req.version}` };
        },
      }),
    );
    for (const timeout of ['99999999S', '99999999H', '2200000M']) {
      const a = await request(session, grpcHeaders({ 'grpc-timeout': timeout }), versionRequest(timeout));
      expect([timeout, a.grpcStatus]).toEqual([timeout, Status.OK]);
      expect(cri.VersionResponse.decode(messages(a.data)[0]!).version).toBe(`aborted=false ${timeout}`);
    }
  });

  it('answers a request with two messages with grpc-status 13, without calling the handler', async () => {
    let calls = 0;
    const session = await connect(
      await serve({
        version: async () => {
          calls++;
          return { version: 'x' };
        },
      }),
    );
    const a = await request(session, grpcHeaders(), [versionRequest('one'), versionRequest('two')]);
    expect(a.grpcStatus).toBe(Status.INTERNAL);
    const empty = await request(session, grpcHeaders(), Buffer.alloc(0));
    expect(empty.grpcStatus).toBe(Status.INTERNAL);
    const cut = await request(session, grpcHeaders(), versionRequest('whole').subarray(0, 7));
    expect(cut.grpcStatus).toBe(Status.INTERNAL);
    expect(calls).toBe(0);
  });

  it('decodes gzip and deflate messages, and refuses a compressed message without an encoding', async () => {
    const session = await connect(await serve(echo));
    const body = cri.VersionRequest.encode({ version: 'squeezed' }).finish();
    for (const [encoding, packed] of [
      ['gzip', zlib.gzipSync(body)],
      ['deflate', zlib.deflateSync(body)],
    ] as const) {
      const a = await request(session, grpcHeaders({ 'grpc-encoding': encoding }), grpcMessage(packed, true));
      expect([encoding, a.grpcStatus]).toEqual([encoding, Status.OK]);
      expect(cri.VersionResponse.decode(messages(a.data)[0]!).version).toBe('echo:squeezed');
    }
    const bare = await request(session, grpcHeaders(), grpcMessage(zlib.gzipSync(body), true));
    expect(bare.grpcStatus).toBe(Status.INTERNAL);
    const unknown = await request(session, grpcHeaders({ 'grpc-encoding': 'snappy' }), grpcMessage(body, true));
    expect(unknown.grpcStatus).toBe(Status.UNIMPLEMENTED);
    const broken = await request(session, grpcHeaders({ 'grpc-encoding': 'gzip' }), grpcMessage(Buffer.from('not gzip'), true));
    expect(broken.grpcStatus).toBe(Status.INTERNAL);
  });

  it('answers a request that does not decode as the message with INTERNAL', async () => {
    const session = await connect(await serve(echo));
    const a = await request(session, grpcHeaders(), grpcMessage(Buffer.from([0x0a, 0x50, 0x01])));
    expect(a.grpcStatus).toBe(Status.INTERNAL);
  });

  it('percent-encodes grpc-message', async () => {
    const session = await connect(
      await serve({
        version: async () => {
          throw new ServerError(Status.NOT_FOUND, '100% ü\n');
        },
      }),
    );
    const a = await request(session, grpcHeaders(), versionRequest('v'));
    expect(a.grpcStatus).toBe(Status.NOT_FOUND);
    expect(a.grpcMessage).toBe('100%25 %C3%BC%0A');
  });
});

describe('raw HTTP/2 bytes', () => {
  async function rawClient(ts: TestServer): Promise<RawClient> {
    const c = await RawClient.connect(ts.path);
    cleanups.push(() => c.destroy());
    return c;
  }



  /** The answer of a unary Version call on `id`: response headers, the decoded message, trailers. */
  async function versionAnswer(c: RawClient, id: number): Promise<{ headers: string[]; version: string; trailers: string[] }> {
    await c.waitFor((f) => f.streamId === id && f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0);
    const [headers, trailers] = c.headerBlocks(id);
    const data = c.data(id);
    expect(data.readUInt32BE(1)).toBe(data.length - 5);
    return { headers: headers!, version: cri.VersionResponse.decode(data.subarray(5)).version, trailers: trailers! };
  }

  it('answers a bad preface with GOAWAY PROTOCOL_ERROR and closes', async () => {
    const ts = await serve(echo);
    const c = await rawClient(ts);
    c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    const g = await c.waitFor(isGoaway);
    expect(goawayCode(g)).toBe(ErrorCode.PROTOCOL_ERROR);
    await c.closed();
    expect(ts.errors.length).toBe(1);
  });

  it('takes a header block split across HEADERS and CONTINUATION frames', async () => {
    const c = await rawClient(await serve(echo));
    const block = grpcRequestHeaders(VERSION_PATH, [['x-long', 'l'.repeat(300)]]);
    const a = Math.floor(block.length / 3);
    const b = Math.floor((2 * block.length) / 3);
    c.write(
      Buffer.concat([
        clientPreface(),
        frame(FrameType.HEADERS, 0, 1, block.subarray(0, a)),
        frame(FrameType.CONTINUATION, 0, 1, block.subarray(a, b)),
        frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(b)),
        frame(FrameType.DATA, Flag.END_STREAM, 1, versionRequest('split')),
      ]),
    );
    const answer = await versionAnswer(c, 1);
    expect(field(answer.headers, ':status')).toBe('200');
    expect(field(answer.headers, 'content-type')).toBe('application/grpc');
    expect(answer.version).toBe('echo:split');
    expect(field(answer.trailers, 'grpc-status')).toBe('0');
  });

  it('answers a frame over 16384 bytes with GOAWAY FRAME_SIZE_ERROR', async () => {
    const c = await rawClient(await serve(echo));
    c.write(Buffer.concat([clientPreface(), frame(FrameType.HEADERS, Flag.END_HEADERS, 1, grpcRequestHeaders(VERSION_PATH))]));
    c.write(frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385)));
    const g = await c.waitFor(isGoaway);
    expect(goawayCode(g)).toBe(ErrorCode.FRAME_SIZE_ERROR);
    await c.closed();
  });

  it('answers HEADERS interrupted by another frame with GOAWAY PROTOCOL_ERROR', async () => {
    const c = await rawClient(await serve(echo));
    const block = grpcRequestHeaders(VERSION_PATH);
    c.write(Buffer.concat([clientPreface(), frame(FrameType.HEADERS, 0, 1, block.subarray(0, 5)), frame(FrameType.PING, 0, 0, Buffer.alloc(8))]));
    expect(goawayCode(await c.waitFor(isGoaway))).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('answers an undecodable header block with GOAWAY COMPRESSION_ERROR', async () => {
    const c = await rawClient(await serve(echo));
    // Indexed field 70: beyond the static table, and the dynamic table is empty.
    c.write(Buffer.concat([clientPreface(), frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from([0x80 | 70]))]));
    expect(goawayCode(await c.waitFor(isGoaway))).toBe(ErrorCode.COMPRESSION_ERROR);
  });

  it('works with the whole conversation written one byte per write', async () => {
    const c = await rawClient(await serve(echo));
    const conversation = Buffer.concat([
      clientPreface([[Setting.INITIAL_WINDOW_SIZE, 100_000]]),
      SETTINGS_ACK,
      frame(FrameType.HEADERS, Flag.END_HEADERS, 1, grpcRequestHeaders(VERSION_PATH)),
      frame(FrameType.DATA, 0, 1, versionRequest('bytewise').subarray(0, 4)),
      frame(FrameType.DATA, Flag.END_STREAM, 1, versionRequest('bytewise').subarray(4)),
      versionCall(3, 'second'),
    ]);
    for (const byte of conversation) {
      await new Promise<void>((resolve) => c.socket.write(Buffer.from([byte]), () => resolve()));
      await new Promise((r) => setImmediate(r));
    }
    expect((await versionAnswer(c, 1)).version).toBe('echo:bytewise');
    expect((await versionAnswer(c, 3)).version).toBe('echo:second');
    // The client's SETTINGS was acknowledged.
    await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
  });

  it('aborts the handler when the client sends RST_STREAM', async () => {
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    let handlerAborted!: () => void;
    const abortedP = new Promise<void>((r) => (handlerAborted = r));
    const c = await rawClient(
      await serve({
        version: async (_req, context) => {
          started();
          await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
          handlerAborted();
          return { version: 'late' };
        },
      }),
    );
    c.write(Buffer.concat([clientPreface(), versionCall(1, 'v')]));
    await startedP;
    c.write(rstStreamFrame(1, ErrorCode.CANCEL));
    await abortedP;
    await c.barrier(1);
    // Nothing more is sent on a stream the client reset.
    expect(c.frames.filter((f) => f.streamId === 1)).toEqual([]);
  });

  it('accepts padded DATA and padded HEADERS with priority (padding removed)', async () => {
    const c = await rawClient(await serve(echo));
    const message = versionRequest('padded');
    const block = grpcRequestHeaders(VERSION_PATH);
    // Pad length, then the 5 priority bytes (stream dependency, weight), then the block, then padding.
    const paddedHeaders = Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 15]), block, Buffer.alloc(3, 0)]);
    c.write(
      Buffer.concat([
        clientPreface(),
        frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY, 1, paddedHeaders),
        frame(FrameType.DATA, Flag.PADDED, 1, Buffer.concat([Buffer.from([2]), message.subarray(0, 3), Buffer.alloc(2)])),
        frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, Buffer.concat([Buffer.from([7]), message.subarray(3), Buffer.alloc(7, 0)])),
      ]),
    );
    expect((await versionAnswer(c, 1)).version).toBe('echo:padded');
    // Padding as long as the frame is a connection error.
    c.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 3, grpcRequestHeaders(VERSION_PATH)));
    c.write(frame(FrameType.DATA, Flag.PADDED, 3, Buffer.from([4, 0, 0, 0])));
    expect(goawayCode(await c.waitFor(isGoaway))).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('resets with NO_ERROR a stream answered while the client still sends, and the frames after it are intact', async () => {
    const c = await rawClient(await serve(echo));
    const ping = Buffer.from('pingpong');
    // One write: the answer to stream 1 (unknown method), its RST_STREAM and the PING ack leave in one flush.
    c.write(
      Buffer.concat([
        clientPreface(),
        frame(FrameType.HEADERS, Flag.END_HEADERS, 1, grpcRequestHeaders('/no.Such/Method')),
        frame(FrameType.PING, 0, 0, ping),
      ]),
    );
    await c.waitFor((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0);
    expect(c.frames.find((f) => f.type === FrameType.PING)!.payload.equals(ping)).toBe(true);
    const onStream = c.frames.filter((f) => f.streamId === 1);
    expect(onStream.map((f) => [f.type, f.flags & Flag.END_STREAM])).toEqual([
      [FrameType.HEADERS, Flag.END_STREAM],
      [FrameType.RST_STREAM, 0],
    ]);
    expect(onStream[1]!.payload.readUInt32BE(0)).toBe(ErrorCode.NO_ERROR);
    expect(field(c.headerBlocks(1)[0]!, 'grpc-status')).toBe(String(Status.UNIMPLEMENTED));
    // The client's late DATA on the answered stream is dropped, and the connection goes on.
    c.write(frame(FrameType.DATA, Flag.END_STREAM, 1, versionRequest('late')));
    c.write(versionCall(3, 'next'));
    expect((await versionAnswer(c, 3)).version).toBe('echo:next');
  });

  it('sends header and trailer metadata larger than a frame as HEADERS + CONTINUATION', async () => {
    const c = await rawClient(
      await serve({
        version: async (req, context) => {
          context.header.set('x-big-header', 'h'.repeat(20_000));
          context.trailer.set('x-big-trailer', 't'.repeat(40_000));
          return { version: `echo:${req.version}` };
        },
      }),
    );
    c.write(Buffer.concat([clientPreface(), versionCall(1, 'big')]));
    await c.waitFor((f) => f.streamId === 1 && f.type === FrameType.CONTINUATION && (f.flags & Flag.END_HEADERS) !== 0 && c.headerBlocks(1).length === 2);
    const [headers, trailers] = c.headerBlocks(1);
    expect(field(headers!, 'x-big-header')).toBe('h'.repeat(20_000));
    expect(field(trailers!, 'x-big-trailer')).toBe('t'.repeat(40_000));
    expect(field(trailers!, 'grpc-status')).toBe('0');
    expect(c.frames.filter((f) => f.streamId === 1 && f.type === FrameType.CONTINUATION).length).toBeGreaterThanOrEqual(3);
    expect(c.frames.every((f) => f.payload.length <= 16_384)).toBe(true);
    await c.barrier(6);
    c.write(versionCall(3, 'next'));
    expect((await versionAnswer(c, 3)).version).toBe('echo:next');
  });

  it('answers GET with END_STREAM with 405 and no RST_STREAM', async () => {
    const c = await rawClient(await serve(echo));
    const get = Buffer.from(grpcRequestHeaders(VERSION_PATH));
    // Replace :method POST (static index 3) by GET (static index 2).
    expect(get[0]).toBe(0x83);
    get[0] = 0x82;
    c.write(Buffer.concat([clientPreface(), frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, get)]));
    await c.waitFor((f) => f.streamId === 1 && f.type === FrameType.HEADERS);
    await c.barrier(2);
    const [headers] = c.headerBlocks(1);
    expect(field(headers!, ':status')).toBe('405');
    expect(c.frames.filter((f) => f.streamId === 1).map((f) => [f.type, f.flags & Flag.END_STREAM])).toEqual([[FrameType.HEADERS, Flag.END_STREAM]]);
  });

  it('sends DATA only as far as the stream window allows, and the rest after WINDOW_UPDATE or a larger SETTINGS window', async () => {
    const big = 'w'.repeat(300);
    const c = await rawClient(await serve({ version: async () => ({ version: big }) }));
    c.write(Buffer.concat([clientPreface([[Setting.INITIAL_WINDOW_SIZE, 10]]), versionCall(1, '')]));
    await c.waitFor((f) => f.streamId === 1 && f.type === FrameType.HEADERS);
    await c.barrier(3);
    expect(c.data(1).length).toBe(10);
    // 10 more by WINDOW_UPDATE.
    c.write(windowUpdateFrame(1, 10));
    await c.barrier(4);
    expect(c.data(1).length).toBe(20);
    // A larger initial window applies to open streams too: 100 - 10 more.
    c.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 100]]));
    await c.barrier(5);
    expect(c.data(1).length).toBe(110);
    c.write(windowUpdateFrame(1, 1000));
    const answer = await versionAnswer(c, 1);
    expect(answer.version).toBe(big);
    expect(field(answer.trailers, 'grpc-status')).toBe('0');
  });

  it('refuses new streams after shutdown() began, and ends the connection once the open call is answered', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const ts = await serve({
      version: async (req) => {
        started();
        await released;
        return { version: `done:${req.version}` };
      },
    });
    const c = await rawClient(ts);
    c.write(Buffer.concat([clientPreface(), versionCall(1, 'open')]));
    await startedP;
    const shut = ts.server.shutdown();
    const g = await c.waitFor(isGoaway);
    expect(goawayCode(g)).toBe(ErrorCode.NO_ERROR);
    expect(g.payload.readUInt32BE(0)).toBe(1);
    c.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, grpcRequestHeaders(VERSION_PATH)));
    const refused = await c.waitFor((f) => f.streamId === 3);
    expect([refused.type, refused.payload.readUInt32BE(0)]).toEqual([FrameType.RST_STREAM, ErrorCode.REFUSED_STREAM]);
    release();
    expect((await versionAnswer(c, 1)).version).toBe('done:open');
    await c.closed();
    c.destroy();
    await shut;
  });
});
