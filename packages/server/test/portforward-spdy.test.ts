// portforward.k8s.io over SPDY, served by createPortForwardHandler for a host-network target (so
// connections go to 127.0.0.1 from the test process itself), driven by the e2e port-forward client
// over a loopback TCP connection: pairing, several connections at once, errors that end one pair
// and leave the session, half-close both ways, backpressure on a large transfer.
import { once } from 'node:events';
import * as net from 'node:net';
import { createLogger } from '../src/log';
import { SpdyStreamResetError, createSpdyClientConnection, createSpdyServerConnection } from '../src/streaming/spdy';
import { createPortForwardHandler } from '../src/streaming/portforward';
import type { PortForwardHandler } from '../src/streaming/types';
import { SpdyPortForwardClient, readToEnd } from '../../../e2e/src/streaming/portforward-client';
import { closedPort, socketPair, tcpServer } from './loopback';

const logger = createLogger('silent');

/** Target servers keep half-closed connections open: the counter answers after the client's FIN. */
const halfOpenServer = (onConn: (s: net.Socket) => void) => tcpServer(onConn, { allowHalfOpen: true });

describe('SPDY port forwarding', () => {
  let handler: PortForwardHandler;
  let client: SpdyPortForwardClient;
  let echo: Awaited<ReturnType<typeof tcpServer>>;
  let counter: Awaited<ReturnType<typeof tcpServer>>;
  let bye: Awaited<ReturnType<typeof tcpServer>>;
  let resetter: Awaited<ReturnType<typeof tcpServer>>;
  const target = { sandboxId: 'sandbox-1', ports: [] };

  beforeAll(async () => {
    // Upper-cases what it reads; ends when the client ends.
    echo = await halfOpenServer((s) => {
      s.on('data', (c: Buffer) => s.write(c.toString('latin1').toUpperCase()));
      s.on('end', () => s.end());
    });
    // Counts bytes until the client's FIN, then answers the count: needs a half-closed connection.
    counter = await halfOpenServer((s) => {
      let n = 0;
      s.on('data', (c: Buffer) => (n += c.length));
      s.on('end', () => s.end(`${n} bytes`));
    });
    // Says bye and closes at once.
    bye = await halfOpenServer((s) => s.end('bye'));
    // Resets the connection (RST) on the first data.
    resetter = await halfOpenServer((s) => s.once('data', () => s.resetAndDestroy()));
  });

  afterAll(() => {
    echo.close();
    counter.close();
    bye.close();
    resetter.close();
  });

  beforeEach(async () => {
    handler = createPortForwardHandler({ logger, pairTimeoutMs: 300, graceMs: 100 });
    const [c, s] = await socketPair();
    handler.serveSpdy(createSpdyServerConnection(s), target);
    client = new SpdyPortForwardClient(createSpdyClientConnection(c));
  });

  afterEach(async () => {
    client.conn.destroy();
    await handler.close();
  });

  it('relays a connection both ways, and ends it cleanly when the client ends', async () => {
    const { stream, error } = client.open(echo.port);
    const answer = readToEnd(stream);
    stream.write('hello ');
    stream.end('world');
    expect((await answer).toString()).toBe('HELLO WORLD');
    expect(await error).toBe('');
  });

  it('serves several connections at once in one session, each to its own socket', async () => {
    const conns = [0, 1, 2].map(() => client.open(echo.port));
    const answers = conns.map((c) => readToEnd(c.stream));
    conns.forEach((c, i) => c.stream.write(`conn ${i} `));
    // All three are open on the server side at the same time.
    await waitUntil(() => echo.sockets.size === 3, 'three connections to the echo server');
    conns.forEach((c, i) => c.stream.end(`end ${i}`));
    expect((await Promise.all(answers)).map(String)).toEqual(['CONN 0 END 0', 'CONN 1 END 1', 'CONN 2 END 2']);
    expect(await Promise.all(conns.map((c) => c.error))).toEqual(['', '', '']);
  });

  it('reports a closed port on that connection\'s error stream and keeps the session', async () => {
    const port = await closedPort();
    const failed = client.open(port);
    const text = await failed.error;
    expect(text).toContain(`error forwarding port ${port} to pod sandbox-1`);
    expect(text).toContain('ECONNREFUSED');
    expect((await readToEnd(failed.stream)).length).toBe(0);

    const next = client.open(echo.port);
    const answer = readToEnd(next.stream);
    next.stream.end('still here');
    expect((await answer).toString()).toBe('STILL HERE');
  });

  it('pairs streams by request id whatever their order', async () => {
    const data = client.openRaw({ streamtype: 'data', port: echo.port, requestid: 'r-7' });
    const other = client.open(echo.port); // another pair in between
    const error = client.openRaw({ streamtype: 'error', port: echo.port, requestid: 'r-7' });
    error.end();
    const errorText = readToEnd(error);
    const answer = readToEnd(data);
    data.end('late pair');
    other.stream.end('other');
    expect((await answer).toString()).toBe('LATE PAIR');
    expect((await errorText).toString()).toBe('');
    expect((await readToEnd(other.stream)).toString()).toBe('OTHER');
  });

  it('drops a pair whose second stream never comes, with a message on its error stream', async () => {
    const error = client.openRaw({ streamtype: 'error', port: echo.port, requestid: 'lonely' });
    error.end();
    expect((await readToEnd(error)).toString()).toBe('timed out waiting for streams of request lonely');
    expect(echo.sockets.size).toBe(0);
  });

  it('resets a stream with a bad port or type header and serves the next ones', async () => {
    for (const headers of [
      { streamtype: 'data', requestid: 'a' },
      { streamtype: 'data', port: 'http', requestid: 'b' },
      { streamtype: 'data', port: 0, requestid: 'c' },
      { streamtype: 'data', port: 70000, requestid: 'd' },
      { streamtype: 'stdin', port: echo.port, requestid: 'e' },
      { port: echo.port, requestid: 'f' },
    ]) {
      const s = client.openRaw(headers);
      const [err] = (await once(s, 'error')) as [Error];
      expect(err).toBeInstanceOf(SpdyStreamResetError);
    }
    const next = client.open(echo.port);
    const answer = readToEnd(next.stream);
    next.stream.end('ok');
    expect((await answer).toString()).toBe('OK');
  });

  it('refuses a second error stream for one request id, noting it on the first, and still forwards the pair', async () => {
    // kubelet's rule: while a pair waits for its other stream, a second stream of the same type is an error.
    const error = client.openRaw({ streamtype: 'error', port: echo.port, requestid: 'dup' });
    error.end();
    const errorText = readToEnd(error);
    const second = client.openRaw({ streamtype: 'error', port: echo.port, requestid: 'dup' });
    const [err] = (await once(second, 'error')) as [Error];
    expect(err).toBeInstanceOf(SpdyStreamResetError);
    const data = client.openRaw({ streamtype: 'data', port: echo.port, requestid: 'dup' });
    const answer = readToEnd(data);
    data.end('paired');
    expect((await answer).toString()).toBe('PAIRED');
    expect((await errorText).toString()).toBe('error processing stream for request dup: error stream already assigned');
  });

  it('half-closes: the client\'s FIN reaches the server, whose answer still comes back (8 MiB, backpressure)', async () => {
    const { stream, error } = client.open(counter.port);
    const answer = readToEnd(stream);
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 128; i++) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
    expect((await answer).toString()).toBe(`${128 * 64 * 1024} bytes`);
    expect(await error).toBe('');
  });

  it('relays the server\'s FIN and finishes the pair while the client keeps its side open', async () => {
    const { stream, error } = client.open(bye.port);
    // The client never ends its side: the pair still finishes (after the grace period).
    expect((await readToEnd(stream)).toString()).toBe('bye');
    expect(await error).toBe('');
  });

  it('reports a connection the pod resets on its error stream', async () => {
    const { stream, error } = client.open(resetter.port);
    stream.resume();
    stream.write('boom');
    const text = await error;
    expect(text).toContain(`error forwarding port ${resetter.port} to pod sandbox-1`);
    expect(text).toContain('ECONNRESET');
  });

  it('closes the pod connections when the session goes', async () => {
    const { stream } = client.open(echo.port);
    stream.write('x');
    await waitUntil(() => echo.sockets.size === 1, 'the connection');
    client.conn.destroy();
    await waitUntil(() => echo.sockets.size === 0, 'the pod connection to close');
  });
});

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
