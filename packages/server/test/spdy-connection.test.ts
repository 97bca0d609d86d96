// SpdyConnection over real TCP sockets, against a small test-only client written from the protocol:
// it opens streams the way kubelet / client-go do (spdystream: SYN_STREAM with `streamtype`,
// `port`, `requestid` headers, priority 0, wait for each SYN_REPLY before the next), and can
// either do flow control like a compliant SPDY/3.1 peer or ignore it like spdystream.
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { PassThrough, Readable, Writable, pipeline } from 'node:stream';
import { promisify } from 'node:util';
import {
  FrameParser,
  GoAwayStatus,
  HeaderCompressor,
  RstStatus,
  SettingsId,
  SpdyConnection,
  SpdyConnectionClosedError,
  SpdyStream,
  SpdyStreamResetError,
  createSpdyClientConnection,
  createSpdyServerConnection,
  encodeFrame,
  headerValue,
} from '../src/streaming/spdy';
import type { Frame, FrameInit, SpdyConnectionOptions, SpdyHeadersInit } from '../src/streaming/spdy';
import { socketPair } from './loopback';

const pipelineAsync = promisify(pipeline);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves on 'close' (events.once would reject on the 'error' a session error emits first). */
const closeOf = (emitter: SpdyConnection | SpdyStream): Promise<void> =>
  new Promise((resolve) => emitter.once('close', () => resolve()));

/** Polls until cond() holds. */
async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** The test client: raw frames over a socket, with its own compression contexts. */
class RawPeer {
  readonly frames: Frame[] = [];
  private readonly parser = new FrameParser();
  private readonly compressor = new HeaderCompressor();
  private nextId = 1;
  /** Flow control as a sender: respect the server's windows (a compliant peer) or not (spdystream). */
  private sendWindows = new Map<number, number>();
  private sessionWindow = 65536;
  private initialWindow = 65536;
  ended = false;

  constructor(
    readonly socket: net.Socket,
    private readonly flowControl: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.parser.push(chunk);
      for (let f = this.parser.next(); f; f = this.parser.next()) this.onFrame(f);
    });
    socket.on('end', () => (this.ended = true));
    socket.on('error', () => {});
  }

  private onFrame(f: Frame): void {
    this.frames.push(f);
    if (f.type === 'WINDOW_UPDATE') {
      if (f.streamId === 0) this.sessionWindow += f.delta;
      else this.sendWindows.set(f.streamId, (this.sendWindows.get(f.streamId) ?? this.initialWindow) + f.delta);
    } else if (f.type === 'SETTINGS') {
      for (const s of f.settings) if (s.id === SettingsId.INITIAL_WINDOW_SIZE) this.initialWindow = s.value;
    }
  }

  send(frame: FrameInit): void {
    this.socket.write(encodeFrame(frame, this.compressor));
  }

  /** Opens a stream like spdystream's CreateStream, and waits for its SYN_REPLY (like client-go). */
  async open(headers: SpdyHeadersInit, opts: { wait?: boolean; fin?: boolean } = {}): Promise<number> {
    const id = this.nextId;
    this.nextId += 2;
    this.send({
      type: 'SYN_STREAM',
      streamId: id,
      associatedStreamId: 0,
      priority: 0,
      slot: 0,
      fin: opts.fin ?? false,
      unidirectional: false,
      headers,
    });
    if (opts.wait ?? true) await this.waitFor((f) => (f.type === 'SYN_REPLY' || f.type === 'RST_STREAM') && f.streamId === id);
    return id;
  }

  /** Writes data in frames of at most 32 KiB (io.Copy's buffer); a compliant peer waits for window. */
  async write(streamId: number, data: Buffer, fin = false): Promise<void> {
    let off = 0;
    while (off < data.length) {
      let n = Math.min(32 * 1024, data.length - off);
      if (this.flowControl) {
        const open = (): boolean => this.windowFor(streamId) > 0 && this.sessionWindow > 0;
        await until(() => open() || this.socket.destroyed, `window on stream ${streamId}`, 10_000);
        if (this.socket.destroyed) return; // the test is over
        n = Math.min(n, this.windowFor(streamId), this.sessionWindow);
      }
      this.sendWindows.set(streamId, this.windowFor(streamId) - n);
      this.sessionWindow -= n;
      this.send({ type: 'DATA', streamId, fin: false, data: data.subarray(off, off + n) });
      off += n;
    }
    if (fin) this.send({ type: 'DATA', streamId, fin: true, data: Buffer.alloc(0) });
  }

  windowFor(streamId: number): number {
    return this.sendWindows.get(streamId) ?? this.initialWindow;
  }

  received(streamId: number): Buffer {
    return Buffer.concat(this.frames.flatMap((f) => (f.type === 'DATA' && f.streamId === streamId ? [f.data] : [])));
  }

  finished(streamId: number): boolean {
    return this.frames.some((f) => (f.type === 'DATA' || f.type === 'SYN_REPLY') && f.streamId === streamId && f.fin);
  }

  async waitFor(pred: (f: Frame) => boolean, what = 'a frame', timeoutMs = 3000): Promise<Frame> {
    await until(() => this.frames.some(pred), what, timeoutMs);
    return this.frames.find(pred) as Frame;
  }
}

interface Setup {
  peer: RawPeer;
  conn: SpdyConnection;
  streams: SpdyStream[];
  nextStream: () => Promise<SpdyStream>;
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** A server connection and a raw client on a fresh socket pair. */
async function setup(options: SpdyConnectionOptions = {}, clientFlowControl = true): Promise<Setup> {
  const [clientSocket, serverSocket] = await socketPair();
  const conn = createSpdyServerConnection(serverSocket, undefined, options);
  const streams: SpdyStream[] = [];
  conn.on('stream', (s: SpdyStream) => streams.push(s));
  const peer = new RawPeer(clientSocket, clientFlowControl);
  cleanup.push(() => {
    clientSocket.destroy();
    serverSocket.destroy();
  });
  let taken = 0;
  const nextStream = async (): Promise<SpdyStream> => {
    await until(() => streams.length > taken, 'a server stream');
    return streams[taken++];
  };
  return { peer, conn, streams, nextStream };
}

function collect(stream: Readable): { data: () => Buffer; ended: () => boolean } {
  const chunks: Buffer[] = [];
  let ended = false;
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => (ended = true));
  return { data: () => Buffer.concat(chunks), ended: () => ended };
}

/** `count` bytes of a recognisable pattern. */
function pattern(count: number): Buffer {
  const b = Buffer.allocUnsafe(count);
  for (let i = 0; i < count; i++) b[i] = (i * 31 + (i >> 10)) & 0xff;
  return b;
}

describe('SpdyConnection (server role) with a kubelet-like client', () => {
  it('runs an exec: streams by streamtype, replies, data both ways, half-close from either side', async () => {
    const { peer, nextStream } = await setup();
    // client-go's v4 order: error, stdin, stdout, stderr; each waits for its reply.
    const ids: Record<string, number> = {};
    const server: Record<string, SpdyStream> = {};
    for (const type of ['error', 'stdin', 'stdout', 'stderr']) {
      ids[type] = await peer.open({ streamType: type });
      server[type] = await nextStream();
      expect(server[type].header('streamtype')).toBe(type);
      expect(server[type].id).toBe(ids[type]);
    }
    // Replies are empty SYN_REPLYs, sent without the application doing anything.
    const replies = peer.frames.filter((f) => f.type === 'SYN_REPLY');
    expect(replies.map((f) => f.type === 'SYN_REPLY' && { ...f.headers })).toEqual([{}, {}, {}, {}]);

    // The "process": stdin upper-cased to stdout; a line to stderr.
    const stdin = collect(server.stdin);
    server.stderr.end('warning\n');
    await peer.write(ids.stdin, Buffer.from('hello\n'));
    await until(() => stdin.data().length === 6, 'stdin data');
    server.stdout.write(stdin.data().toString().toUpperCase());
    // The client closes stdin (FIN): the server sees 'end' and can still write stdout.
    await peer.write(ids.stdin, Buffer.alloc(0), true);
    await until(stdin.ended, 'stdin end');
    server.stdout.end('bye\n');
    server.error.end('{"status":"Success"}');
    await until(() => peer.finished(ids.stdout) && peer.finished(ids.stderr) && peer.finished(ids.error), 'FINs');
    expect(peer.received(ids.stdout).toString()).toBe('HELLO\nbye\n');
    expect(peer.received(ids.stderr).toString()).toBe('warning\n');
    expect(peer.received(ids.error).toString()).toBe('{"status":"Success"}');

    // The server half-closed stdout first; the client can still send on it, then closes it.
    const stdout = collect(server.stdout);
    await peer.write(ids.stdout, Buffer.from('late'), true);
    await until(stdout.ended, 'stdout end');
    expect(stdout.data().toString()).toBe('late');
    await until(() => server.stdout.destroyed, 'stdout fully closed and destroyed');
    expect(server.stdout.resetStatus).toBeNull(); // a clean close, no RST
    expect(peer.frames.some((f) => f.type === 'RST_STREAM')).toBe(false);
  });

  it('exposes port-forward headers (port, requestid) and a SYN_STREAM FIN as an ended stream', async () => {
    const { peer, nextStream } = await setup();
    await peer.open({ streamType: 'error', port: '8080', requestID: '0' }, { fin: true });
    const errorStream = await nextStream();
    await peer.open({ streamType: 'data', port: '8080', requestID: '0' });
    const dataStream = await nextStream();
    expect([errorStream.header('port'), errorStream.header('requestId'), dataStream.header('streamType')]).toEqual([
      '8080',
      '0',
      'data',
    ]);
    expect(headerValue(dataStream.headers, 'requestid')).toBe('0');
    const e = collect(errorStream);
    await until(e.ended, 'end of the FIN stream');
    expect(e.data().length).toBe(0);
  });

  it('lets the application reply with headers itself, or refuse with a reset', async () => {
    const [clientSocket, serverSocket] = await socketPair();
    cleanup.push(() => clientSocket.destroy());
    const conn = createSpdyServerConnection(serverSocket);
    conn.on('stream', (s: SpdyStream) => {
      if (s.header('streamtype') === 'bogus') s.reset(RstStatus.REFUSED_STREAM);
      else s.reply({ 'x-accepted': 'yes' });
    });
    const peer = new RawPeer(clientSocket, true);
    const a = await peer.open({ streamtype: 'stdout' });
    const reply = await peer.waitFor((f) => f.type === 'SYN_REPLY' && f.streamId === a);
    expect(reply.type === 'SYN_REPLY' && reply.headers['x-accepted']).toEqual(['yes']);
    const b = await peer.open({ streamtype: 'bogus' });
    const rst = await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === b);
    expect(rst).toMatchObject({ status: RstStatus.REFUSED_STREAM });
    expect(peer.frames.filter((f) => f.type === 'SYN_REPLY')).toHaveLength(1);
  });

  it('destroys a stream with SpdyStreamResetError on the peer RST_STREAM, and resets on local destroy', async () => {
    const { peer, nextStream } = await setup();
    const a = await peer.open({ streamtype: 'stdin' });
    const sa = await nextStream();
    const errors: Error[] = [];
    sa.on('error', (e) => errors.push(e));
    peer.send({ type: 'RST_STREAM', streamId: a, status: RstStatus.CANCEL });
    await closeOf(sa);
    expect(errors[0]).toBeInstanceOf(SpdyStreamResetError);
    expect(errors[0]).toMatchObject({ status: RstStatus.CANCEL, remote: true, cancelled: true, streamId: a });
    expect(sa.resetStatus).toBe(RstStatus.CANCEL);
    // Data still in flight for the reset stream is dropped quietly.
    peer.send({ type: 'DATA', streamId: a, fin: false, data: Buffer.from('late') });

    // Destroying an open stream tells the peer (RST_STREAM CANCEL, as spdystream's Reset()).
    const b = await peer.open({ streamtype: 'stdout' });
    const sb = await nextStream();
    sb.destroy();
    expect(await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === b)).toMatchObject({
      status: RstStatus.CANCEL,
    });
    // reset(status) sends that status.
    const c = await peer.open({ streamtype: 'stderr' });
    (await nextStream()).reset(RstStatus.INTERNAL_ERROR);
    expect(await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === c)).toMatchObject({
      status: RstStatus.INTERNAL_ERROR,
    });
    // An unhandled stream error does not throw: the connection goes on.
    const d = await peer.open({ streamtype: 'resize' });
    const sd = await nextStream();
    peer.send({ type: 'RST_STREAM', streamId: d, status: RstStatus.INTERNAL_ERROR });
    await closeOf(sd);
    const e = await peer.open({ streamtype: 'stdin' });
    expect(e).toBe(d + 2);
    expect(peer.frames.filter((f) => f.type === 'RST_STREAM' && f.streamId === a)).toHaveLength(0);
  });

  it('answers the peer pings, and pings the peer', async () => {
    const { peer, conn } = await setup();
    peer.send({ type: 'PING', id: 1 });
    peer.send({ type: 'PING', id: 3 });
    await peer.waitFor((f) => f.type === 'PING' && f.id === 3);
    expect(peer.frames.filter((f) => f.type === 'PING').map((f) => f.type === 'PING' && f.id)).toEqual([1, 3]);
    // The server's own pings use even ids; the client echoes them.
    const rtt = conn.ping();
    const ping = await peer.waitFor((f) => f.type === 'PING' && f.id % 2 === 0);
    expect(ping).toEqual({ type: 'PING', id: 2 });
    peer.send({ type: 'PING', id: 2 });
    expect(await rtt).toBeGreaterThanOrEqual(0);
  });

  it('close(): GOAWAY, refuses new streams, finishes open ones, then ends the socket', async () => {
    const { peer, conn, nextStream } = await setup();
    const a = await peer.open({ streamtype: 'stdout' });
    const sa = await nextStream();
    conn.close();
    const goaway = await peer.waitFor((f) => f.type === 'GOAWAY');
    expect(goaway).toEqual({ type: 'GOAWAY', lastGoodStreamId: a, status: GoAwayStatus.OK });
    const b = await peer.open({ streamtype: 'stderr' });
    expect(await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === b)).toMatchObject({
      status: RstStatus.REFUSED_STREAM,
    });
    // The open stream still works both ways.
    const received = collect(sa);
    sa.end('still here');
    await peer.write(a, Buffer.from('me too'), true);
    await until(() => peer.finished(a) && received.ended(), 'both FINs');
    expect(peer.received(a).toString()).toBe('still here');
    expect(received.data().toString()).toBe('me too');
    // Its last stream done, the connection ends the socket.
    await until(() => peer.ended, 'socket end');
    await until(() => conn.isClosed, 'connection closed');
  });

  it('close(timeoutMs) destroys the streams the peer never finishes', async () => {
    const { peer, conn, nextStream } = await setup();
    const a = await peer.open({ streamtype: 'resize' });
    const s = await nextStream();
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    s.end(); // this side is done; the peer never sends FIN
    const closed = closeOf(conn);
    conn.close(100);
    await until(() => peer.finished(a), 'our FIN');
    expect(conn.isClosed).toBe(false);
    await closed;
    expect(errors[0]).toBeInstanceOf(SpdyConnectionClosedError);
    await until(() => peer.ended, 'socket end');
  });

  it("a peer's GOAWAY: no new streams expected, the open ones finish, then the connection closes", async () => {
    const { peer, conn, nextStream } = await setup();
    const a = await peer.open({ streamtype: 'stdout' });
    const sa = await nextStream();
    const goaways: unknown[] = [];
    conn.on('goaway', (last: number, status: number) => goaways.push([last, status]));
    const closed = closeOf(conn);
    peer.send({ type: 'GOAWAY', lastGoodStreamId: 0, status: GoAwayStatus.OK });
    await until(() => goaways.length === 1, 'goaway event');
    expect(goaways[0]).toEqual([0, GoAwayStatus.OK]);
    expect(conn.isClosed).toBe(false);
    expect(() => conn.openStream({ streamtype: 'x' })).toThrow(/going away/);
    sa.end('done');
    await peer.write(a, Buffer.alloc(0), true);
    sa.resume();
    await closed;
    expect(peer.received(a).toString()).toBe('done');
  });

  it('tears every unfinished stream down when the socket goes', async () => {
    const { peer, conn, nextStream } = await setup();
    await peer.open({ streamtype: 'stdin' });
    const s = await nextStream();
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    const closed = closeOf(conn);
    peer.socket.destroy();
    await closed;
    await until(() => s.destroyed, 'stream destroyed');
    expect(errors[0]).toBeInstanceOf(SpdyConnectionClosedError);
    expect(conn.openStreams).toBe(0);
    await expect(conn.ping()).rejects.toBeInstanceOf(SpdyConnectionClosedError);
  });

  describe('protocol errors', () => {
    it('a session error (SPDY/2 frame) sends GOAWAY(PROTOCOL_ERROR), fails the streams and closes', async () => {
      const { peer, conn, nextStream } = await setup();
      await peer.open({ streamtype: 'stdin' });
      const s = await nextStream();
      const connErrors: Error[] = [];
      conn.on('error', (e) => connErrors.push(e));
      const closed = closeOf(conn);
      peer.socket.write(Buffer.from('8002000600000004 00000001'.replace(/ /g, ''), 'hex'));
      await closed;
      expect(await peer.waitFor((f) => f.type === 'GOAWAY')).toMatchObject({ status: GoAwayStatus.PROTOCOL_ERROR, lastGoodStreamId: 1 });
      expect(connErrors[0]?.message).toMatch(/version 2/);
      expect(s.destroyed).toBe(true);
    });

    it.each<[string, (p: RawPeer) => void]>([
      [
        'a SYN_STREAM with an even (server) id',
        (p) =>
          p.send({ type: 'SYN_STREAM', streamId: 2, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: {} }),
      ],
      ['an oversized control frame', (p) => p.send({ type: 'UNKNOWN', frameType: 99, flags: 0, payload: Buffer.alloc(2048) })],
      ['garbage in a header block', (p) => p.socket.write(Buffer.from('800300020000000c000000010102030400000000ffff'.replace(/ /g, ''), 'hex'))],
    ])('%s is a session error', async (_name, send) => {
      const { peer, conn } = await setup({ maxControlFrameSize: 1024 });
      const closed = closeOf(conn);
      send(peer);
      await closed;
      expect(await peer.waitFor((f) => f.type === 'GOAWAY')).toMatchObject({ status: GoAwayStatus.PROTOCOL_ERROR });
    });

    it('stream ids going backwards is a session error', async () => {
      const { peer, conn } = await setup();
      await peer.open({ a: '1' }); // 1
      await peer.open({ a: '3' }); // 3
      const closed = closeOf(conn);
      peer.send({ type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: {} });
      await closed;
      expect(await peer.waitFor((f) => f.type === 'GOAWAY')).toMatchObject({ status: GoAwayStatus.PROTOCOL_ERROR, lastGoodStreamId: 3 });
    });

    it('stream errors reset only the stream: bad header block, DATA after FIN, DATA on an unopened stream', async () => {
      const { peer, conn, nextStream } = await setup();
      // An uppercase header name: valid zlib, invalid block → RST PROTOCOL_ERROR, session goes on.
      const compressor = (peer as unknown as { compressor: HeaderCompressor }).compressor;
      const block = Buffer.concat([Buffer.from('0000000100000001', 'hex'), Buffer.from('A'), Buffer.from('0000000178', 'hex')]);
      const c = compressor.compress(block);
      const head = Buffer.alloc(18);
      head.writeUInt32BE(0x8003_0001, 0);
      head.writeUInt32BE(10 + c.length, 4);
      head.writeUInt32BE(1, 8);
      peer.socket.write(Buffer.concat([head, c]));
      expect(await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === 1)).toMatchObject({ status: RstStatus.PROTOCOL_ERROR });
      (peer as unknown as { nextId: number }).nextId = 3;

      const a = await peer.open({ streamtype: 'stdin' }, { fin: true });
      await nextStream();
      peer.send({ type: 'DATA', streamId: a, fin: false, data: Buffer.from('x') });
      expect(await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === a)).toMatchObject({
        status: RstStatus.STREAM_ALREADY_CLOSED,
      });
      peer.send({ type: 'DATA', streamId: 99, fin: false, data: Buffer.from('x') });
      expect(await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === 99)).toMatchObject({
        status: RstStatus.INVALID_STREAM,
      });
      // Still alive.
      const b = await peer.open({ streamtype: 'stdout' });
      expect(peer.frames.some((f) => f.type === 'SYN_REPLY' && f.streamId === b)).toBe(true);
      expect(conn.isClosed).toBe(false);
    });

    it('refuses streams beyond maxConcurrentStreams', async () => {
      const { peer } = await setup({ maxConcurrentStreams: 2 });
      await peer.open({ n: '1' });
      await peer.open({ n: '2' });
      const third = await peer.open({ n: '3' });
      expect(peer.frames.find((f) => f.type === 'RST_STREAM' && f.streamId === third)).toMatchObject({
        status: RstStatus.REFUSED_STREAM,
      });
    });
  });

  it('reads the first frames from the HTTP upgrade head', async () => {
    const server = http.createServer();
    const streams: SpdyStream[] = [];
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
          `X-Stream-Protocol-Version: ${String(req.headers['x-stream-protocol-version']).split(',')[0]}\r\n\r\n`,
      );
      expect(head.length).toBeGreaterThan(0);
      const conn = createSpdyServerConnection(socket, head);
      conn.on('stream', (s: SpdyStream) => {
        streams.push(s);
        s.end(`hello ${s.header('streamtype')}`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => server.close());
    const { port } = server.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    cleanup.push(() => socket.destroy());
    // The upgrade request and the first SYN_STREAM in one write: the frame arrives in `head`.
    const compressor = new HeaderCompressor();
    const syn = encodeFrame(
      { type: 'SYN_STREAM', streamId: 1, associatedStreamId: 0, priority: 0, slot: 0, fin: false, unidirectional: false, headers: { streamtype: 'error' } },
      compressor,
    );
    socket.write(
      Buffer.concat([
        Buffer.from(
          'POST /exec/token HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
            'X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\n\r\n',
        ),
        syn,
      ]),
    );
    // Skip the HTTP response, then parse frames.
    let buffered = Buffer.alloc(0);
    const parser = new FrameParser();
    const frames: Frame[] = [];
    let headers = '';
    socket.on('data', (chunk: Buffer) => {
      if (!headers) {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        headers = buffered.subarray(0, end).toString();
        chunk = buffered.subarray(end + 4);
      }
      parser.push(chunk);
      for (let f = parser.next(); f; f = parser.next()) frames.push(f);
    });
    await until(() => frames.some((f) => f.type === 'DATA' && f.fin), 'the reply data');
    expect(headers).toMatch(/^HTTP\/1.1 101/);
    expect(headers).toMatch(/X-Stream-Protocol-Version: v4.channel.k8s.io/);
    expect(frames[0]).toMatchObject({ type: 'SYN_REPLY', streamId: 1 });
    const data = Buffer.concat(frames.flatMap((f) => (f.type === 'DATA' ? [f.data] : [])));
    expect(data.toString()).toBe('hello error');
    expect(streams).toHaveLength(1);
  });
});

describe('SpdyConnection flow control', () => {
  const MiB = 1024 * 1024;

  /** Writes `total` bytes in 16 KiB chunks through a pipeline, counting how far the source got. */
  function source(total: number): { readable: Readable; produced: () => number; data: Buffer } {
    const data = pattern(total);
    let produced = 0;
    const readable = new Readable({
      highWaterMark: 16 * 1024,
      read() {
        if (produced >= total) {
          this.push(null);
          return;
        }
        const n = Math.min(16 * 1024, total - produced);
        this.push(data.subarray(produced, produced + n));
        produced += n;
      },
    });
    return { readable, produced: () => produced, data };
  }

  it('as a sender, stops at the peer window and resumes on WINDOW_UPDATE (strict), with bounded buffering', async () => {
    const { peer, nextStream } = await setup({ flowControl: 'strict' });
    const id = await peer.open({ streamtype: 'stdout' });
    const stream = await nextStream();
    const src = source(MiB);
    const done = pipelineAsync(src.readable, stream);
    await until(() => peer.received(id).length === 65536, 'the first window');
    await sleep(100);
    // Stopped exactly at the 64 KiB window; the source was not read ahead much further.
    expect(peer.received(id).length).toBe(65536);
    expect(src.produced()).toBeLessThanOrEqual(65536 + 3 * 16 * 1024 + 32 * 1024);
    expect(stream.sendWindow).toBe(0);
    // Credit the stream and the session (SPDY/3.1): the rest flows.
    peer.send({ type: 'WINDOW_UPDATE', streamId: id, delta: MiB });
    peer.send({ type: 'WINDOW_UPDATE', streamId: 0, delta: MiB });
    await done;
    await until(() => peer.finished(id), 'FIN');
    expect(peer.received(id).equals(src.data)).toBe(true);
  });

  it('as a sender, honours the session window shared by all streams (strict)', async () => {
    const { peer, nextStream } = await setup({ flowControl: 'strict' });
    const a = await peer.open({ streamtype: 'stdout' });
    const sa = await nextStream();
    const b = await peer.open({ streamtype: 'stderr' });
    const sb = await nextStream();
    sa.write(pattern(60_000));
    sb.write(pattern(60_000));
    await until(() => peer.received(a).length + peer.received(b).length === 65536, 'the session window');
    await sleep(50);
    expect(peer.received(a).length + peer.received(b).length).toBe(65536);
    peer.send({ type: 'WINDOW_UPDATE', streamId: 0, delta: 65536 });
    await until(() => peer.received(a).length === 60_000 && peer.received(b).length === 60_000, 'everything');
  });

  it("as a sender in 'auto' mode, enforces windows once the peer announces SETTINGS_INITIAL_WINDOW_SIZE", async () => {
    const { peer, nextStream } = await setup();
    peer.send({ type: 'SETTINGS', clearSettings: false, settings: [{ id: SettingsId.INITIAL_WINDOW_SIZE, value: 10_000, flags: 0 }] });
    const id = await peer.open({ streamtype: 'stdout' });
    const stream = await nextStream();
    stream.write(pattern(50_000));
    await until(() => peer.received(id).length === 10_000, 'the announced window');
    await sleep(50);
    expect(peer.received(id).length).toBe(10_000);
    peer.send({ type: 'WINDOW_UPDATE', streamId: id, delta: 40_000 });
    await until(() => peer.received(id).length === 50_000, 'the rest');
  });

  it("as a sender in 'auto' mode, does not stall a peer that never sends WINDOW_UPDATE (spdystream)", async () => {
    const { peer, nextStream } = await setup();
    const id = await peer.open({ streamtype: 'stdout' });
    const stream = await nextStream();
    const src = source(MiB);
    await pipelineAsync(src.readable, stream);
    await until(() => peer.finished(id), 'FIN');
    expect(peer.received(id).equals(src.data)).toBe(true);
    expect(peer.frames.some((f) => f.type === 'WINDOW_UPDATE' && f.streamId !== 0 && f.streamId !== id)).toBe(false);
  });

  it('as a receiver, credits only what the application read: a paused reader stops a compliant sender', async () => {
    const { peer, nextStream } = await setup();
    const id = await peer.open({ streamtype: 'stdin' });
    const stream = await nextStream();
    stream.pause();
    const data = pattern(MiB);
    const sending = peer.write(id, data, true);
    await until(() => stream.readableLength === 65536, 'the first window buffered');
    await sleep(100);
    // The sender is out of window; nothing was credited back.
    expect(stream.readableLength).toBe(65536);
    expect(peer.windowFor(id)).toBe(0);
    expect(peer.frames.some((f) => f.type === 'WINDOW_UPDATE' && f.streamId === id)).toBe(false);
    // The reader resumes: WINDOW_UPDATEs flow back and the transfer completes, never buffering more than a window.
    let maxBuffered = 0;
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        maxBuffered = Math.max(maxBuffered, stream.readableLength);
        chunks.push(chunk);
        setImmediate(cb);
      },
    });
    await Promise.all([pipelineAsync(stream, slow), sending]);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(maxBuffered).toBeLessThanOrEqual(65536);
    expect(peer.frames.filter((f) => f.type === 'WINDOW_UPDATE' && f.streamId === id).length).toBeGreaterThan(10);
  });

  it('as a receiver, bounds memory against a sender that ignores windows (spdystream) by pausing the socket', async () => {
    const { peer, nextStream } = await setup({}, false);
    const id = await peer.open({ streamtype: 'stdin' });
    const stream = await nextStream();
    stream.pause();
    const data = pattern(4 * MiB);
    await peer.write(id, data, true); // queued on the client socket regardless of windows
    await sleep(300);
    // The server holds about a window plus one socket read; the rest waits in the TCP buffers and
    // the client's socket (the sender is slowed by TCP, as spdystream expects).
    expect(stream.readableLength).toBeGreaterThanOrEqual(65536);
    expect(stream.readableLength).toBeLessThanOrEqual(65536 + 256 * 1024);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await pipelineAsync(stream, out);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
  });

  it("in 'strict' mode, a sender overrunning the window gets RST_STREAM FLOW_CONTROL_ERROR", async () => {
    // A larger session window, so that the stream window is the one overrun.
    const { peer, nextStream } = await setup({ flowControl: 'strict', sessionWindowSize: MiB }, false);
    const id = await peer.open({ streamtype: 'stdin' });
    const stream = await nextStream();
    stream.pause();
    const errors: Error[] = [];
    stream.on('error', (e) => errors.push(e));
    await peer.write(id, pattern(65536 + 1));
    expect(await peer.waitFor((f) => f.type === 'RST_STREAM' && f.streamId === id)).toMatchObject({
      status: RstStatus.FLOW_CONTROL_ERROR,
    });
    await until(() => errors.length > 0, 'stream error');
    expect(errors[0]).toMatchObject({ status: RstStatus.FLOW_CONTROL_ERROR, remote: false });
  });

  it("in 'strict' mode, overrunning the session window is a session error", async () => {
    const { peer, conn } = await setup({ flowControl: 'strict', initialWindowSize: MiB }, false);
    const a = await peer.open({ streamtype: 'stdin' });
    const b = await peer.open({ streamtype: 'stdin' });
    const closed = closeOf(conn);
    await peer.write(a, pattern(40_000));
    await peer.write(b, pattern(40_000));
    await closed;
    expect(await peer.waitFor((f) => f.type === 'GOAWAY')).toMatchObject({ status: GoAwayStatus.PROTOCOL_ERROR });
  });

  it('announces a larger receive window with SETTINGS and a session WINDOW_UPDATE', async () => {
    const { peer, nextStream } = await setup({ initialWindowSize: 256 * 1024, sessionWindowSize: 1024 * 1024 });
    await until(() => peer.frames.length >= 2, 'the opening frames');
    expect(peer.frames[0]).toEqual({
      type: 'SETTINGS',
      clearSettings: false,
      settings: [{ id: SettingsId.INITIAL_WINDOW_SIZE, value: 256 * 1024, flags: 0 }],
    });
    expect(peer.frames[1]).toEqual({ type: 'WINDOW_UPDATE', streamId: 0, delta: 1024 * 1024 - 65536 });
    const id = await peer.open({ streamtype: 'stdin' });
    const stream = await nextStream();
    stream.pause();
    void peer.write(id, pattern(MiB));
    await until(() => stream.readableLength === 256 * 1024, 'the larger window');
    await sleep(50);
    expect(stream.readableLength).toBe(256 * 1024);
    stream.resume();
  });
});

describe('SpdyConnection client and server together', () => {
  async function pair(
    serverOptions: SpdyConnectionOptions = {},
    clientOptions: SpdyConnectionOptions = {},
  ): Promise<{ client: SpdyConnection; server: SpdyConnection; accepted: SpdyStream[] }> {
    const [c, s] = await socketPair();
    cleanup.push(() => {
      c.destroy();
      s.destroy();
    });
    const server = createSpdyServerConnection(s, undefined, serverOptions);
    const client = createSpdyClientConnection(c, undefined, clientOptions);
    const accepted: SpdyStream[] = [];
    server.on('stream', (st: SpdyStream) => accepted.push(st));
    return { client, server, accepted };
  }

  it('opens streams (odd ids), waits for the reply before sending, exchanges data and half-closes', async () => {
    const { client, accepted } = await pair();
    const a = client.openStream({ streamtype: 'stdin' });
    const b = client.openStream({ streamtype: 'stdout' }, { priority: 3 });
    expect([a.id, b.id]).toEqual([1, 3]);
    a.end('to the server'); // held until the SYN_REPLY arrives
    const reply = once(b, 'reply');
    await until(() => accepted.length === 2, 'accepted');
    expect(accepted[1].priority).toBe(3);
    expect(await reply).toEqual([{}]);
    const fromClient = collect(accepted[0]);
    await until(fromClient.ended, 'end');
    expect(fromClient.data().toString()).toBe('to the server');
    accepted[1].end('to the client');
    const fromServer = collect(b);
    await until(fromServer.ended, 'end');
    expect(fromServer.data().toString()).toBe('to the client');
  });

  it('moves 4 MiB each way at once under strict flow control on both sides', async () => {
    const { client, accepted } = await pair({ flowControl: 'strict' }, { flowControl: 'strict' });
    const s = client.openStream({ streamtype: 'data' });
    await until(() => accepted.length === 1, 'accepted');
    const up = pattern(4 * 1024 * 1024);
    const down = Buffer.from(up).reverse();
    const gotUp = collect(accepted[0]);
    const gotDown = collect(s);
    s.end(up);
    accepted[0].end(down);
    await until(() => gotUp.ended() && gotDown.ended(), 'both ends', 10_000);
    expect(gotUp.data().equals(up)).toBe(true);
    expect(gotDown.data().equals(down)).toBe(true);
  });

  it('pings both ways and closes gracefully from the client', async () => {
    const { client, server } = await pair();
    expect(await client.ping()).toBeGreaterThanOrEqual(0);
    expect(await server.ping()).toBeGreaterThanOrEqual(0);
    const closed = Promise.all([closeOf(client), closeOf(server)]);
    client.close();
    await closed;
  });
});
