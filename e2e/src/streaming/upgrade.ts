// Client side of the streaming server's upgrades, written from the protocol (kubelet's
// httpstream/spdy and wsstream): an HTTP/1.1 upgrade to SPDY/3.1 with the subprotocol offered in
// X-Stream-Protocol-Version headers, or a WebSocket with the subprotocols in Sec-WebSocket-Protocol.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { createSpdyClientConnection } from '@crisp/server';
import type { SpdyConnection, SpdyConnectionOptions } from '@crisp/server';

/** The server answered the upgrade with something other than 101 (e.g. 404 for a bad token). */
export class UpgradeRefusedError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: string,
  ) {
    super(`upgrade refused: HTTP ${statusCode}${body ? `: ${body.trim()}` : ''}`);
    this.name = 'UpgradeRefusedError';
  }
}

export interface UpgradeOptions {
  /** HTTP method of the upgrade request; kubelet/client-go use POST. */
  method?: 'GET' | 'POST';
  /** For https URLs: the CA that signed the server's certificate; without it, the certificate is not verified. */
  ca?: string | Buffer;
  /** Gives up when the server has not answered the upgrade by then. Default 10 s. */
  timeoutMs?: number;
  /** SPDY only: the connection's options, e.g. larger flow-control windows. */
  spdy?: SpdyConnectionOptions;
}

const DEFAULT_TIMEOUT_MS = 10_000;

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Upgrades `url` to SPDY/3.1 offering `protocols` (most preferred first), as client-go's SPDY executor does. */
export function openSpdy(
  url: string,
  protocols: string[],
  options: UpgradeOptions = {},
): Promise<{ conn: SpdyConnection; protocol: string }> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const transport = secure ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(target, {
      method: options.method ?? 'POST',
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'SPDY/3.1',
        'X-Stream-Protocol-Version': protocols,
      },
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(secure ? { ca: options.ca, rejectUnauthorized: options.ca !== undefined } : {}),
    });
    req.on('timeout', () => req.destroy(new Error(`upgrade of ${url} timed out`)));
    req.on('error', reject);
    req.on('response', (res) => {
      void readBody(res).then((body) => reject(new UpgradeRefusedError(res.statusCode ?? 0, body)));
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      const upgrade = String(res.headers['upgrade'] ?? '').toLowerCase();
      if (upgrade !== 'spdy/3.1') {
        socket.destroy();
        reject(new Error(`server upgraded to ${JSON.stringify(upgrade)}, not SPDY/3.1`));
        return;
      }
      socket.setTimeout(0);
      const header = res.headers['x-stream-protocol-version'];
      const protocol = Array.isArray(header) ? (header[0] ?? '') : (header ?? '');
      resolve({ conn: createSpdyClientConnection(socket, head, options.spdy), protocol });
    });
    req.end();
  });
}

/** Opens a WebSocket to `url` (http(s) or ws(s)) offering `protocols`, as client-go's WebSocket executor does. */
export function openWebSocket(
  url: string,
  protocols: string[],
  options: UpgradeOptions = {},
): Promise<{ ws: WebSocket; protocol: string }> {
  const target = new URL(url);
  if (target.protocol === 'http:') target.protocol = 'ws:';
  else if (target.protocol === 'https:') target.protocol = 'wss:';
  const secure = target.protocol === 'wss:';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target, protocols, {
      handshakeTimeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(secure ? { ca: options.ca, rejectUnauthorized: options.ca !== undefined } : {}),
    });
    let settled = false;
    ws.on('unexpected-response', (_req, res) => {
      settled = true;
      void readBody(res).then((body) => reject(new UpgradeRefusedError(res.statusCode ?? 0, body)));
      ws.terminate();
    });
    ws.once('open', () => {
      settled = true;
      resolve({ ws, protocol: ws.protocol });
    });
    ws.on('error', (err) => {
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
  });
}
