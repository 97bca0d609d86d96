// The streaming server's HTTP side without containerd: tokens, upgrades, subprotocol negotiation,
// the hand-over to the port-forward handler, the stream creation timeout, and HTTPS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { WebSocket } from 'ws';
import { UpgradeRefusedError, openSpdy, openWebSocket } from '../../../e2e/src/streaming/upgrade';
import { DEFAULT_CONFIG } from '../src/config/schema';
import { Status } from '../src/errors';
import { createLogger } from '../src/log';
import { StreamingServer } from '../src/streaming/server';
import type { SpdyConnection } from '../src/streaming/spdy';
import type { PortForwardHandler, PortForwardTarget } from '../src/streaming/types';

const logger = createLogger('silent');
const TARGET: PortForwardTarget = { sandboxId: 'sandbox-1', ports: [8080] };
const EXEC = { containerId: 'c1', cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false };

class FakePortForward implements PortForwardHandler {
  spdy: { conn: SpdyConnection; target: PortForwardTarget }[] = [];
  ws: { ws: WebSocket; protocol: string; target: PortForwardTarget; ports: number[] }[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  serveSpdy(conn: SpdyConnection, target: PortForwardTarget): void {
    this.spdy.push({ conn, target });
    this.notify();
  }
  serveWebSocket(ws: WebSocket, protocol: string, target: PortForwardTarget, ports: number[]): void {
    this.ws.push({ ws, protocol, target, ports });
    this.notify();
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  served(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

async function refused(p: Promise<unknown>): Promise<UpgradeRefusedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof UpgradeRefusedError)) throw new Error(`expected an UpgradeRefusedError, got ${String(err)}`);
  return err;
}

function plainGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

describe('StreamingServer', () => {
  let server: StreamingServer;
  let pf: FakePortForward;

  const make = (overrides: Partial<typeof DEFAULT_CONFIG.streaming> = {}, streamCreationTimeoutMs?: number) => {
    pf = new FakePortForward();
    server = new StreamingServer({
      config: { ...DEFAULT_CONFIG.streaming, ...overrides },
      logger,
      ctx: () => {
        throw new Error('no sessions in these tests');
      },
      portForward: pf,
      ...(streamCreationTimeoutMs !== undefined ? { streamCreationTimeoutMs } : {}),
    });
    return server;
  };

  afterEach(async () => {
    await server?.stop();
  });

  it('mints URLs only while running', async () => {
    make();
    expect(() => server.url({ kind: 'exec', request: EXEC })).toThrow(expect.objectContaining({ code: Status.UNAVAILABLE }));
    await server.start();
    expect(server.url({ kind: 'exec', request: EXEC })).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{43}$/);
    await server.stop();
    expect(pf.closed).toBe(true);
    expect(() => server.url({ kind: 'exec', request: EXEC })).toThrow(expect.objectContaining({ code: Status.UNAVAILABLE }));
  });

  it('answers 404 to unknown tokens, unknown paths and a token used on the wrong path', async () => {
    await make().start();
    const base = server.baseUrl!;
    expect((await refused(openSpdy(`${base}/exec/${'x'.repeat(43)}`, ['v4.channel.k8s.io']))).statusCode).toBe(404);
    expect((await refused(openWebSocket(`${base}/nope`, ['v4.channel.k8s.io']))).statusCode).toBe(404);
    const url = server.url({ kind: 'exec', request: EXEC });
    expect((await refused(openSpdy(url.replace('/exec/', '/attach/'), ['v4.channel.k8s.io']))).statusCode).toBe(404);
    // That attempt spent the token.
    expect((await refused(openSpdy(url, ['v4.channel.k8s.io']))).statusCode).toBe(404);
  });

  it('answers 400 to a request that does not upgrade, and the token is spent', async () => {
    await make().start();
    const url = server.url({ kind: 'exec', request: EXEC });
    expect(await plainGet(url)).toBe(400);
    expect((await refused(openSpdy(url, ['v4.channel.k8s.io']))).statusCode).toBe(404);
  });

  it('needs a SPDY subprotocol it speaks (400 without, 403 with none it knows)', async () => {
    await make().start();
    const none = await refused(openSpdy(server.url({ kind: 'exec', request: EXEC }), []));
    expect(none.statusCode).toBe(400);
    expect(none.body).toContain('x-stream-protocol-version');
    const unknown = await refused(openSpdy(server.url({ kind: 'exec', request: EXEC }), ['v9.channel.k8s.io']));
    expect(unknown.statusCode).toBe(403);
    const pfWithExecProtocol = await refused(openSpdy(server.url({ kind: 'portforward', target: TARGET }), ['v4.channel.k8s.io']));
    expect(pfWithExecProtocol.statusCode).toBe(403);
  });

  it('hands port-forward SPDY connections to the port-forward handler', async () => {
    await make().start();
    const served = pf.served();
    const { conn, protocol } = await openSpdy(server.url({ kind: 'portforward', target: TARGET }), ['portforward.k8s.io']);
    expect(protocol).toBe('portforward.k8s.io');
    await served;
    expect(pf.spdy[0]!.target).toEqual(TARGET);
    conn.destroy();
  });

  it('hands port-forward WebSockets over with the protocol and the ports of the query', async () => {
    await make().start();
    const served = pf.served();
    const { ws, protocol } = await openWebSocket(`${server.url({ kind: 'portforward', target: TARGET })}?port=80&port=8080`, ['v4.base64.channel.k8s.io']);
    expect(protocol).toBe('v4.base64.channel.k8s.io');
    await served;
    expect(pf.ws[0]).toMatchObject({ protocol: 'v4.base64.channel.k8s.io', target: TARGET, ports: [80, 8080] });
    ws.terminate();
    expect((await refused(openWebSocket(server.url({ kind: 'portforward', target: TARGET }), ['v4.channel.k8s.io']))).statusCode).toBe(400);
    expect((await refused(openWebSocket(`${server.url({ kind: 'portforward', target: TARGET })}?port=0`, ['v4.channel.k8s.io']))).statusCode).toBe(400);
  });

  it('refuses a WebSocket subprotocol it does not speak with 403', async () => {
    await make().start();
    expect((await refused(openWebSocket(server.url({ kind: 'exec', request: EXEC }), ['v9.channel.k8s.io']))).statusCode).toBe(403);
  });

  it('cuts off a SPDY client that does not open its streams', async () => {
    await make({}, 200).start();
    const { conn } = await openSpdy(server.url({ kind: 'exec', request: EXEC }), ['v4.channel.k8s.io']);
    // Only the error stream of the two (error, stdout) it needs.
    conn.openStream({ streamtype: 'error' });
    await new Promise<void>((resolve) => conn.once('close', () => resolve()));
    expect(conn.isClosed).toBe(true);
  });

  it('serves HTTPS with the configured certificate', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crisp-streaming-tls-'));
    try {
      const cert = path.join(dir, 'cert.pem');
      const key = path.join(dir, 'key.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      await make({ tlsCertFile: cert, tlsKeyFile: key }).start();
      const url = server.url({ kind: 'portforward', target: TARGET });
      expect(url.startsWith('https://127.0.0.1:')).toBe(true);
      const served = pf.served();
      const { conn } = await openSpdy(url, ['portforward.k8s.io'], { ca: readFileSync(cert) });
      await served;
      conn.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
