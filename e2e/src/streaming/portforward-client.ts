// Port-forward clients for tests and benchmarks, written from the protocol as client-go speaks it:
// each forwarded connection is a Duplex (write to the pod's port, read its answer) plus the text
// the server wrote on that connection's error stream.
// - SPDY (`portforward.k8s.io`, what kubectl uses through kubelet): an error stream then a data
//   stream per connection, headers `streamtype`, `port`, `requestid`; many connections per session.
// - WebSocket (`v4.channel.k8s.io` / `v4.base64.channel.k8s.io`, crictl --transport websocket):
//   one connection per `port` query parameter; channel 2i data, 2i+1 error; the server's first
//   message on each channel is the port (uint16 little-endian).
import { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import type { SpdyConnection, SpdyStream } from '@crisp/server';
import { openSpdy } from './upgrade';

export const SPDY_PORTFORWARD_PROTOCOL = 'portforward.k8s.io';

export interface ForwardedConnection {
  /** To and from the pod's port. With SPDY, end() half-closes (FIN on the data stream). */
  readonly stream: Duplex;
  /** What the server wrote on the error stream, once that ended ('' when all went well). */
  readonly error: Promise<string>;
}

function collectText(stream: SpdyStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

export class SpdyPortForwardClient {
  private nextRequestId = 0;

  constructor(readonly conn: SpdyConnection) {}

  /**
   * Upgrades the URL of a PortForward response. With `windowSize`, the client grants the server
   * that much per stream (and 4x per session) instead of SPDY's 64 KiB: client-go's spdystream does
   * no flow control at all, so a large window is what models kubectl for throughput.
   */
  static async connect(url: string, opts: { windowSize?: number } = {}): Promise<SpdyPortForwardClient> {
    const { conn, protocol } = await openSpdy(url, [SPDY_PORTFORWARD_PROTOCOL], {
      ...(opts.windowSize ? { spdy: { initialWindowSize: opts.windowSize, sessionWindowSize: opts.windowSize * 4 } } : {}),
    });
    if (protocol !== SPDY_PORTFORWARD_PROTOCOL) {
      conn.destroy();
      throw new Error(`server chose subprotocol ${JSON.stringify(protocol)}, not ${SPDY_PORTFORWARD_PROTOCOL}`);
    }
    return new SpdyPortForwardClient(conn);
  }

  /** A new connection to `port` in the pod (client-go opens the error stream first). */
  open(port: number, requestId: string = String(this.nextRequestId++)): ForwardedConnection {
    const error = this.conn.openStream({ streamtype: 'error', port, requestid: requestId });
    // client-go closes its side of the error stream at once: only the server writes there.
    error.end();
    const errorText = collectText(error);
    errorText.catch(() => undefined); // awaited by the caller, if at all
    const data = this.conn.openStream({ streamtype: 'data', port, requestid: requestId });
    return { stream: data, error: errorText };
  }

  /** Opens one stream with the given headers only (for protocol tests: half pairs, bad headers). */
  openRaw(headers: Readonly<Record<string, string | number | undefined>>): SpdyStream {
    return this.conn.openStream(headers);
  }

  /** GOAWAY, then the connection ends once the streams are done. */
  close(): void {
    this.conn.close();
  }
}

function encode(channel: number, payload: Buffer, base64: boolean): Buffer | string {
  if (base64) return String.fromCharCode(48 + channel) + payload.toString('base64');
  return Buffer.concat([Buffer.of(channel), payload]);
}

function decode(message: Buffer, base64: boolean): { channel: number; payload: Buffer } | undefined {
  if (message.length === 0) return undefined;
  if (base64) return { channel: message[0]! - 48, payload: Buffer.from(message.subarray(1).toString('latin1'), 'base64') };
  return { channel: message[0]!, payload: message.subarray(1) };
}

/** The data channel of one port, as a Duplex; it ends when the WebSocket closes. */
class DataChannel extends Duplex {
  constructor(
    private readonly ws: WebSocket,
    private readonly channel: number,
    private readonly base64: boolean,
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.ws.send(encode(this.channel, chunk, this.base64), (err) => cb(err ?? null));
  }

  override _read(): void {
    // Messages are pushed as they come; a test client needs no backpressure on reading.
  }
}

export class WebSocketPortForwardClient {
  /** One connection per port, in the order of the ports. */
  readonly connections: ForwardedConnection[];
  /** The close code and reason, once the server closed the WebSocket. */
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(
    readonly ws: WebSocket,
    readonly ports: number[],
    protocol: string,
  ) {
    const base64 = protocol.includes('base64');
    ws.on('error', () => undefined); // a close follows
    const data = ports.map((_, i) => new DataChannel(ws, 2 * i, base64));
    const errors = ports.map(() => [] as Buffer[]);
    /** Channels whose port prefix has arrived. */
    const started = new Set<number>();
    let protocolError: Error | undefined;

    ws.on('message', (message: RawData) => {
      const m = decode(message as Buffer, base64);
      if (!m) return;
      const i = Math.floor(m.channel / 2);
      if (i >= ports.length) return;
      if (!started.has(m.channel)) {
        started.add(m.channel);
        const prefix = m.payload.subarray(0, 2);
        if (prefix.length !== 2 || prefix.readUInt16LE(0) !== ports[i]) {
          protocolError ??= new Error(`channel ${m.channel} began with ${prefix.toString('hex')}, not port ${ports[i]} (uint16 LE)`);
          ws.terminate();
          return;
        }
        m.payload = m.payload.subarray(2);
        if (m.payload.length === 0) return;
      }
      if (m.channel % 2 === 0) data[i]!.push(m.payload);
      else errors[i]!.push(m.payload);
    });
    this.closed = new Promise((resolve, reject) => {
      ws.on('close', (code: number, reason: Buffer) => {
        for (const d of data) d.push(null);
        if (protocolError) reject(protocolError);
        else resolve({ code, reason: reason.toString('utf8') });
      });
    });
    this.closed.catch(() => undefined);
    this.connections = ports.map((_, i) => ({
      stream: data[i]!,
      error: this.closed.then(() => Buffer.concat(errors[i]!).toString('utf8')),
    }));
  }

  /**
   * Opens the WebSocket for `ports` (added to the URL as `port` query parameters). The server
   * speaks first (the port prefixes may come with the 101), so the client is attached before the
   * 'open' event, not after it as openWebSocket() would allow.
   */
  static async connect(url: string, ports: number[], protocol = 'v4.channel.k8s.io', timeoutMs = 10_000): Promise<WebSocketPortForwardClient> {
    const target = new URL(url);
    if (target.protocol === 'http:') target.protocol = 'ws:';
    for (const p of ports) target.searchParams.append('port', String(p));
    const ws = new WebSocket(target, [protocol], { handshakeTimeout: timeoutMs });
    const client = new WebSocketPortForwardClient(ws, ports, protocol);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`upgrade refused: HTTP ${res.statusCode ?? 0}`));
        ws.terminate();
      });
      ws.once('error', reject);
    });
    if (ws.protocol !== protocol) {
      ws.terminate();
      throw new Error(`server chose subprotocol ${JSON.stringify(ws.protocol)}, not ${protocol}`);
    }
    return client;
  }

  close(): void {
    this.ws.close(1000);
  }
}

/** Reads a stream to its end. */
export function readToEnd(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** An HTTP/1.0 GET over a forwarded connection (the server closes when done, as busybox httpd does). */
export async function httpGet(stream: Duplex, path: string): Promise<HttpAnswer> {
  const answer = readToEnd(stream);
  stream.write(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`);
  const raw = await answer;
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`not an HTTP answer: ${JSON.stringify(raw.subarray(0, 200).toString('latin1'))}`);
  const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  if (!status) throw new Error(`bad HTTP status line ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon > 0) headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
  }
  return { status, headers, body: raw.subarray(split + 4) };
}
