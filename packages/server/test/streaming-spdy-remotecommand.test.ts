// Remote command streams over a real SPDY connection on loopback: which streams a session waits
// for, how stdin/stdout/resize/status travel, and what happens to streams it did not ask for.
import net from 'node:net';
import { createLogger } from '../src/log';
import { exitCodeStatus, remoteCommandProtocol } from '../src/streaming/protocol';
import type { TerminalSize } from '../src/streaming/protocol';
import type { RemoteCommandStreams } from '../src/streaming/remotecommand';
import { createSpdyClientConnection, createSpdyServerConnection } from '../src/streaming/spdy';
import type { SpdyConnection, SpdyStream } from '../src/streaming/spdy';
import { acceptSpdyRemoteCommand, expectedStreamTypes } from '../src/streaming/spdy-remotecommand';

const logger = createLogger('silent');
const v4 = remoteCommandProtocol('v4.channel.k8s.io', 'spdy');

async function connectedPair(): Promise<{ client: SpdyConnection; server: SpdyConnection; close(): void }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const socket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const serverSocket = await accepted;
  const client = createSpdyClientConnection(socket);
  const server = createSpdyServerConnection(serverSocket);
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

function read(stream: SpdyStream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks).toString()));
  });
}

describe('expectedStreamTypes', () => {
  it('wants error first, no stderr with a TTY, and resize only from v3 on', () => {
    expect(expectedStreamTypes({ stdin: true, stdout: true, stderr: true, tty: false }, v4)).toEqual(['error', 'stdin', 'stdout', 'stderr']);
    expect(expectedStreamTypes({ stdin: true, stdout: true, stderr: false, tty: true }, v4)).toEqual(['error', 'stdin', 'stdout', 'resize']);
    expect(expectedStreamTypes({ stdin: false, stdout: true, stderr: false, tty: true }, remoteCommandProtocol('v2.channel.k8s.io', 'spdy'))).toEqual(['error', 'stdout']);
  });
});

describe('acceptSpdyRemoteCommand', () => {
  let pair: Awaited<ReturnType<typeof connectedPair>>;
  afterEach(() => pair?.close());

  it('carries stdin, stdout, resize and the final Status, then closes', async () => {
    pair = await connectedPair();
    const accepted = acceptSpdyRemoteCommand(pair.server, v4, { stdin: true, stdout: true, stderr: false, tty: true }, logger);
    const error = pair.client.openStream({ streamtype: 'error' });
    const stdin = pair.client.openStream({ streamtype: 'stdin' });
    const stdout = pair.client.openStream({ streamtype: 'stdout' });
    // A stream type the session did not ask for is refused.
    const stray = pair.client.openStream({ streamtype: 'stderr' });
    const strayError = new Promise<Error>((resolve) => stray.once('error', resolve));
    const resize = pair.client.openStream({ streamtype: 'resize' });
    const streams: RemoteCommandStreams = await accepted;
    expect(await strayError).toMatchObject({ name: 'SpdyStreamResetError' });

    const sizes: TerminalSize[] = [];
    const gotSize = new Promise<void>((resolve) =>
      streams.onResize((s) => {
        sizes.push(s);
        resolve();
      }),
    );
    resize.write('{"Width":80,"Height":24}\n');
    await gotSize;
    expect(sizes).toEqual([{ width: 80, height: 24 }]);

    const input = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      streams.stdin!.on('data', (c: Buffer) => chunks.push(c));
      streams.stdin!.once('end', () => resolve(Buffer.concat(chunks).toString()));
    });
    stdin.end('typed');
    expect(await input).toBe('typed');

    const out = read(stdout);
    const status = read(error);
    streams.stdout!.write(Buffer.from('printed'));
    streams.finish(exitCodeStatus(2));
    expect(await out).toBe('printed');
    expect(JSON.parse(await status)).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '2' }] } });
    expect(streams.clientGone.aborted).toBe(false);
  });

  it('tells the session when the client goes away', async () => {
    pair = await connectedPair();
    const accepted = acceptSpdyRemoteCommand(pair.server, v4, { stdin: false, stdout: true, stderr: false, tty: false }, logger);
    pair.client.openStream({ streamtype: 'error' });
    pair.client.openStream({ streamtype: 'stdout' });
    const streams = await accepted;
    const gone = new Promise<void>((resolve) => streams.clientGone.addEventListener('abort', () => resolve()));
    pair.client.destroy();
    await gone;
    expect(streams.clientGone.aborted).toBe(true);
  });

  it('gives up when the client closes before opening its streams', async () => {
    pair = await connectedPair();
    const accepted = acceptSpdyRemoteCommand(pair.server, v4, { stdin: false, stdout: true, stderr: false, tty: false }, logger);
    pair.client.openStream({ streamtype: 'error' });
    pair.client.destroy();
    await expect(accepted).rejects.toThrow(/closed the connection/);
  });
});
