// WebSocket port forwarding (v4 channel framing, binary and base64) served by
// createPortForwardHandler for a host-network target (connections to 127.0.0.1 from the test
// process), driven by the e2e WebSocket port-forward client, which checks the uint16 LE port
// prefix of every channel.
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { WebSocketServer } from 'ws';
import { createLogger } from '../src/log';
import { createPortForwardHandler, portPrefix } from '../src/streaming/portforward';
import type { PortForwardHandler } from '../src/streaming/types';
import { WebSocketPortForwardClient, readToEnd } from '../../../e2e/src/streaming/portforward-client';
import { closedPort as nothingListensOn, tcpServer } from './loopback';

const logger = createLogger('silent');

describe('WebSocket port forwarding', () => {
  let handler: PortForwardHandler;
  let httpServer: http.Server;
  let url: string;
  let line: Awaited<ReturnType<typeof tcpServer>>;
  let bye: Awaited<ReturnType<typeof tcpServer>>;
  let closedPort: number;

  beforeAll(async () => {
    // Answers the first line upper-cased, then closes.
    line = await tcpServer((s) => {
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        const nl = got.indexOf('\n');
        if (nl >= 0) s.end(got.slice(0, nl + 1).toUpperCase());
      });
    });
    bye = await tcpServer((s) => s.end('bye'));
    closedPort = await nothingListensOn();

    handler = createPortForwardHandler({ logger });
    httpServer = http.createServer();
    const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => [...offered][0] ?? false });
    httpServer.on('upgrade', (req, socket, head) => {
      const ports = new URL(req.url ?? '/', 'http://x').searchParams.getAll('port').map(Number);
      wss.handleUpgrade(req, socket, head, (ws) => handler.serveWebSocket(ws, ws.protocol, { sandboxId: 'sandbox-ws', ports: [] }, ports));
    });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    url = `http://127.0.0.1:${(httpServer.address() as net.AddressInfo).port}/portforward/token`;
  });

  afterAll(async () => {
    await handler.close();
    httpServer.close();
    line.close();
    bye.close();
  });

  it('portPrefix is the port as uint16 little-endian', () => {
    expect([...portPrefix(8080)]).toEqual([0x90, 0x1f]);
    expect([...portPrefix(1)]).toEqual([1, 0]);
  });

  for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
    it(`${protocol}: forwards one connection per port, then closes the WebSocket`, async () => {
      const client = await WebSocketPortForwardClient.connect(url, [line.port, bye.port], protocol);
      const [first, second] = client.connections;
      const answers = [readToEnd(first!.stream), readToEnd(second!.stream)];
      first!.stream.write('hello ');
      first!.stream.write('there\n');
      expect((await Promise.all(answers)).map(String)).toEqual(['HELLO THERE\n', 'bye']);
      expect(await client.closed).toEqual({ code: 1000, reason: '' });
      expect(await first!.error).toBe('');
      expect(await second!.error).toBe('');
    });
  }

  it('reports a closed port on its error channel; the other port still works', async () => {
    const client = await WebSocketPortForwardClient.connect(url, [closedPort, line.port]);
    const [failed, ok] = client.connections;
    const answer = readToEnd(ok!.stream);
    ok!.stream.write('fine\n');
    expect((await answer).toString()).toBe('FINE\n');
    await client.closed;
    const text = await failed!.error;
    expect(text).toContain(`error forwarding port ${closedPort} to pod sandbox-ws`);
    expect(text).toContain('ECONNREFUSED');
    expect(await ok!.error).toBe('');
  });

  it('closes with a policy error when no port is named', async () => {
    const client = await WebSocketPortForwardClient.connect(url, []);
    expect(await client.closed).toEqual({ code: 1008, reason: 'no port to forward' });
  });
});
