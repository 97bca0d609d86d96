// crisp's streaming server: the HTTP(S) endpoint behind the URLs that Exec, Attach and PortForward
// return. Each URL is /<kind>/<token>; the token (tokens.ts) stands for the request the RPC
// validated. A client (kubelet, crictl) upgrades the request to SPDY/3.1 or to a WebSocket,
// negotiating a subprotocol, and the session runs on the upgraded connection. A token that is
// unknown, expired, already used or of another kind gets 404.
import type { cri } from '@crisp/api';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { CrispConfig } from '../config/schema';
import type { CrispContext } from '../context';
import { CrispError, Status, unavailable } from '../errors';
import type { Logger } from '../log';
import {
  ACCEPTED_PROTOCOLS_HEADER,
  PROTOCOL_HEADER,
  SPDY_PORTFORWARD_PROTOCOLS,
  SPDY_REMOTECOMMAND_PROTOCOLS,
  WS_PORTFORWARD_PROTOCOLS,
  WS_REMOTECOMMAND_PROTOCOLS,
  negotiate,
  offeredProtocols,
  remoteCommandProtocol,
} from './protocol';
import type { RemoteCommandStreams, StreamsWanted } from './remotecommand';
import { runAttachSession, runExecSession } from './sessions';
import { createSpdyServerConnection } from './spdy';
import type { SpdyConnection } from './spdy';
import { acceptSpdyRemoteCommand } from './spdy-remotecommand';
import { TokenCache, TokenCacheFullError } from './tokens';
import type { StreamKind } from './tokens';
import type { PortForwardHandler, PortForwardTarget } from './types';
import { acceptWebSocketRemoteCommand } from './ws-remotecommand';

/** What a token stands for: the request its RPC validated. */
export type StreamRequest =
  | { kind: 'exec'; request: cri.ExecRequest }
  | { kind: 'attach'; request: cri.AttachRequest }
  | { kind: 'portforward'; target: PortForwardTarget };

export interface StreamingServerOptions {
  config: CrispConfig['streaming'];
  logger: Logger;
  /** The context sessions run in (created after the server object). */
  ctx: () => CrispContext;
  portForward: PortForwardHandler;
  /** Overrides kubelet's 30 s for the client to open its SPDY streams (tests). */
  streamCreationTimeoutMs?: number;
}

/** How long stop() waits for sessions to clean up (killing and reaping exec processes). */
const STOP_SESSIONS_TIMEOUT_MS = 15_000;

const ROUTE = /^\/(exec|attach|portforward)\/([^/?#]+)$/;

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** Writes a plain HTTP error on a socket that was not upgraded, and closes it. */
function refuse(socket: Duplex, code: number, message: string, extraHeaders: Record<string, string[]> = {}): void {
  const body = `${message}\n`;
  const headers = [
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(extraHeaders).flatMap(([name, values]) => values.map((v) => `${name}: ${v}`)),
  ];
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

export class StreamingServer {
  private readonly tokens: TokenCache<StreamRequest>;
  private readonly log: Logger;
  private readonly wss = new WebSocketServer({
    noServer: true,
    // The subprotocol was negotiated before handleUpgrade (see chosenWsProtocol).
    handleProtocols: (_offered, req) => this.chosenWsProtocol.get(req) || false,
    // Binary data must stay Buffers; no permessage-deflate (client-go does not offer it).
    perMessageDeflate: false,
    maxPayload: 16 * 1024 * 1024,
  });
  private readonly chosenWsProtocol = new WeakMap<http.IncomingMessage, string>();
  /** Upgraded connections and running sessions, ended on stop(). */
  private readonly live = new Set<{ destroy(): void }>();
  /** Running sessions: stop() waits for them (an exec is killed and reaped when its client is cut off). */
  private readonly sessions = new Set<Promise<void>>();
  private server: http.Server | https.Server | undefined;
  private base: string | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: StreamingServerOptions) {
    this.log = opts.logger.child({ component: 'streaming' });
    this.tokens = new TokenCache({ ttlMs: opts.config.tokenTtlSeconds * 1000 });
  }

  /** Listens on the configured address and port (HTTPS with the configured certificate). */
  async start(): Promise<void> {
    const { address, port, tlsCertFile, tlsKeyFile } = this.opts.config;
    const tls = tlsCertFile !== '' && tlsKeyFile !== '';
    const server = tls
      ? https.createServer({ cert: await fs.readFile(tlsCertFile), key: await fs.readFile(tlsKeyFile) })
      : http.createServer();
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('clientError', (err, socket: Duplex) => {
      this.log.debug({ err }, 'bad HTTP request on the streaming port');
      refuse(socket, 400, 'bad request');
    });
    const host = address.replace(/^\[(.*)\]$/, '$1');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'streaming server error'));
    this.server = server;
    const bound = server.address() as AddressInfo;
    // The URL must be dialable: an unspecified bind address is reached over loopback (kubelet runs on the node).
    const urlHost = isUnspecified(host) ? (bound.family === 'IPv6' ? '::1' : '127.0.0.1') : host;
    this.base = `${tls ? 'https' : 'http'}://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${bound.port}`;
    this.log.info({ url: this.base, tls }, 'streaming server listening');
  }

  /** `http(s)://host:port`, once started. */
  get baseUrl(): string | undefined {
    return this.base;
  }

  /** Mints a single-use URL for `request` (UNAVAILABLE before start or after stop, RESOURCE_EXHAUSTED when too many wait). */
  url(request: StreamRequest): string {
    if (!this.base || this.stopping) throw unavailable('the streaming server is not running');
    let token: string;
    try {
      token = this.tokens.put(request.kind, request);
    } catch (err) {
      if (err instanceof TokenCacheFullError) throw new CrispError(Status.RESOURCE_EXHAUSTED, err.message);
      throw err;
    }
    return `${this.base}/${request.kind}/${token}`;
  }

  /** Stops listening, ends every session (exec processes are killed) and the port-forward handler. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      const server = this.server;
      const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      this.tokens.clear();
      for (const s of [...this.live]) s.destroy();
      server?.closeAllConnections();
      this.wss.close();
      await this.opts.portForward.close();
      let timer: NodeJS.Timeout | undefined;
      const waited = Promise.allSettled([...this.sessions]).then(() => true);
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), STOP_SESSIONS_TIMEOUT_MS)));
      if (!(await Promise.race([waited, timeout]))) this.log.warn({ sessions: this.sessions.size }, 'streaming sessions still ending at shutdown');
      clearTimeout(timer);
      await closed;
      this.log.info('streaming server stopped');
    })());
  }

  // ---- routing ------------------------------------------------------------------------------------

  /** The request a URL's token stands for, consumed; undefined for an unknown route or token. */
  private consume(url: string | undefined): StreamRequest | undefined {
    const path = (url ?? '').split('?')[0]!;
    const m = ROUTE.exec(path);
    if (!m) return undefined;
    const kind = m[1] as StreamKind;
    let token: string;
    try {
      token = decodeURIComponent(m[2]!);
    } catch {
      return undefined;
    }
    return this.tokens.take(kind, token);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const found = this.consume(req.url);
    const send = (code: number, message: string): void => {
      res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
      res.end(`${message}\n`);
    };
    if (!found) return send(404, 'unknown, expired or already used streaming token');
    if (req.method !== 'GET' && req.method !== 'POST') return send(405, `method ${req.method} not allowed`);
    // The token is spent: a plain request cannot carry a session.
    send(400, 'unable to upgrade: missing upgrade headers in request (SPDY/3.1 or websocket expected)');
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.log.debug({ err }, 'streaming socket error'));
    const found = this.consume(req.url);
    if (!found) return refuse(socket, 404, 'unknown, expired or already used streaming token');
    if (req.method !== 'GET' && req.method !== 'POST') return refuse(socket, 405, `method ${req.method} not allowed`);
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') return this.upgradeWebSocket(req, socket, head, found);
    if (upgrade === 'spdy/3.1') return this.upgradeSpdy(req, socket, head, found);
    refuse(socket, 400, `unable to upgrade: unsupported protocol ${JSON.stringify(req.headers.upgrade)} (SPDY/3.1 or websocket expected)`);
  }

  // ---- SPDY ---------------------------------------------------------------------------------------

  private upgradeSpdy(req: http.IncomingMessage, socket: Duplex, head: Buffer, found: StreamRequest): void {
    const connection = String(req.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
    if (!connection.includes('upgrade')) return refuse(socket, 400, 'unable to upgrade: missing upgrade headers in request');
    const offered = offeredProtocols(req.headers[PROTOCOL_HEADER]);
    if (offered.length === 0) return refuse(socket, 400, `unable to upgrade: ${PROTOCOL_HEADER} is required`);
    const supported = found.kind === 'portforward' ? SPDY_PORTFORWARD_PROTOCOLS : SPDY_REMOTECOMMAND_PROTOCOLS;
    const protocol = negotiate(offered, supported);
    if (!protocol) {
      return refuse(socket, 403, `unable to upgrade: unable to negotiate protocol: client supports ${offered.join(', ')}, server accepts ${supported.join(', ')}`, {
        [ACCEPTED_PROTOCOLS_HEADER]: [...supported],
      });
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    (socket as Socket).setTimeout?.(0);
    const conn = createSpdyServerConnection(socket, head);
    const log = this.log.child({ kind: found.kind, transport: 'spdy', protocol });
    this.track(conn, conn);
    if (found.kind === 'portforward') {
      this.opts.portForward.serveSpdy(conn, found.target);
      return;
    }
    const want = wanted(found);
    acceptSpdyRemoteCommand(conn, remoteCommandProtocol(protocol, 'spdy'), want, log, this.opts.streamCreationTimeoutMs).then(
      (streams) => this.runSession(found, streams, log),
      (err: unknown) => log.info({ err }, 'streaming session not started'),
    );
  }

  // ---- WebSocket ----------------------------------------------------------------------------------

  private upgradeWebSocket(req: http.IncomingMessage, socket: Duplex, head: Buffer, found: StreamRequest): void {
    const offered = offeredProtocols(req.headers['sec-websocket-protocol']);
    const supported = found.kind === 'portforward' ? WS_PORTFORWARD_PROTOCOLS : WS_REMOTECOMMAND_PROTOCOLS;
    const chosen = negotiate(offered, supported);
    if (offered.length > 0 && !chosen) {
      return refuse(socket, 403, `unable to upgrade: requested protocol(s) not supported: ${offered.join(', ')}; supported: ${supported.join(', ')}`);
    }
    let ports: number[] = [];
    if (found.kind === 'portforward') {
      const parsed = portsFromQuery(req.url ?? '');
      if (typeof parsed === 'string') return refuse(socket, 400, parsed);
      ports = parsed;
    }
    if (chosen) this.chosenWsProtocol.set(req, chosen);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      // No subprotocol offered: kubelet's defaults (binary channels, pre-v4 error stream).
      const protocol = chosen ?? '';
      const log = this.log.child({ kind: found.kind, transport: 'websocket', protocol });
      this.track({ destroy: () => ws.terminate() }, ws);
      if (found.kind === 'portforward') {
        this.opts.portForward.serveWebSocket(ws, protocol, found.target, ports);
        return;
      }
      const streams = acceptWebSocketRemoteCommand(ws, remoteCommandProtocol(protocol || 'channel.k8s.io', 'websocket'), wanted(found), log);
      this.runSession(found, streams, log);
    });
  }

  // ---- sessions -----------------------------------------------------------------------------------

  private runSession(found: StreamRequest, streams: RemoteCommandStreams, log: Logger): void {
    const ctx = this.opts.ctx();
    const run =
      found.kind === 'exec'
        ? runExecSession(ctx, found.request, streams, log)
        : found.kind === 'attach'
          ? runAttachSession(ctx, found.request, streams, log)
          : Promise.resolve();
    const tracked = run
      .catch((err: unknown) => {
        log.warn({ err }, 'streaming session crashed');
        streams.destroy();
      })
      .finally(() => this.sessions.delete(tracked));
    this.sessions.add(tracked);
  }

  /** Keeps `conn` in the live set until it closes. */
  private track(entry: { destroy(): void }, emitter: SpdyConnection | WebSocket): void {
    this.live.add(entry);
    emitter.once('close', () => this.live.delete(entry));
  }
}

function wanted(found: StreamRequest): StreamsWanted {
  if (found.kind === 'portforward') throw new Error('not a remote command');
  const r = found.request;
  return { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, tty: r.tty };
}

/** The `port` query parameters of a WebSocket port-forward URL (kubelet requires at least one). */
export function portsFromQuery(url: string): number[] | string {
  const values = new URL(url, 'http://x').searchParams.getAll('port');
  if (values.length === 0) return 'query parameter "port" is required';
  const ports: number[] = [];
  for (const v of values) {
    const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= 65535)) return `invalid port ${JSON.stringify(v)}: must be 1-65535`;
    ports.push(n);
  }
  return ports;
}
