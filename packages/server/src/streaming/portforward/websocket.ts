// WebSocket port forwarding, as kubelet's streaming server serves it (crictl --transport
// websocket): one connection per port named in the URL (`?port=80&port=443`), multiplexed on
// channels: 2i carries the i-th port's data both ways, 2i+1 its error messages. Each message
// starts with its channel: one byte in `v4.channel.k8s.io` (binary messages), one ASCII digit
// followed by base64 in `v4.base64.channel.k8s.io` (text messages). The first message the server
// sends on each channel is the port, as two bytes little-endian. The v4 framing cannot end one
// channel: the WebSocket closes once every port's connection has ended.
import { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import type { Logger } from '../../log';
import type { PortForwardTarget } from '../types';
import { decodeChannelMessage, encodeChannelMessage } from '../ws-framing';
import type { PortDialer } from './netns-dialer';
import { RelayHandle, relay } from './relay';
import { forwardError } from './spdy';

export interface WebSocketSessionOptions {
  logger: Logger;
  dialer: PortDialer;
  /** See RelayOptions.graceMs (the client cannot end its direction in v4: keep it short). */
  graceMs: number;
  /** Called once the WebSocket has closed and every connection is finished. */
  onClose?: () => void;
}

/** The port as the first message of its channels: uint16 little-endian. */
export function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port);
  return b;
}

/** Pauses the WebSocket while any channel's reader is behind. */
class InputGate {
  private readonly behind = new Set<WsChannel>();
  constructor(private readonly ws: WebSocket) {}
  pause(c: WsChannel): void {
    this.behind.add(c);
    if (!this.ws.isPaused) this.ws.pause();
  }
  resume(c: WsChannel): void {
    if (this.behind.delete(c) && this.behind.size === 0) this.ws.resume();
  }
}

/** One channel of the WebSocket as a Duplex (the data channel of a port). */
class WsChannel extends Duplex {
  constructor(
    private readonly ws: WebSocket,
    readonly channel: number,
    private readonly base64: boolean,
    private readonly gate: InputGate,
  ) {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      cb(new Error('WebSocket closed'));
      return;
    }
    // The callback comes once the frame is written to the socket: that is the backpressure.
    this.ws.send(encodeChannelMessage(this.channel, chunk, this.base64), (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    cb(); // v4 has no way to end a channel
  }

  override _read(): void {
    this.gate.resume(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.gate.resume(this);
    cb(err);
  }

  /** A message from the client for this channel. */
  deliver(payload: Buffer): void {
    if (payload.length === 0 || this.readableEnded || this.destroyed) return;
    if (!this.push(payload)) this.gate.pause(this);
  }
}

/** Serves one WebSocket until it closes. `ports` are the URL's `port` parameters, in order. */
export function serveWebSocketPortForward(ws: WebSocket, protocol: string, target: PortForwardTarget, ports: number[], opts: WebSocketSessionOptions): void {
  const log = opts.logger.child({ podSandboxId: target.sandboxId, protocol: protocol || 'websocket' });
  const base64 = protocol.includes('base64.');
  const gate = new InputGate(ws);
  const relays = new Set<RelayHandle>();
  let pending = ports.length;
  let closed = false;
  let closeReported = false;

  const reportClose = (): void => {
    if (closeReported || !closed || pending > 0) return;
    closeReported = true;
    opts.onClose?.();
  };
  const pairDone = (): void => {
    pending--;
    if (pending === 0 && ws.readyState === WebSocket.OPEN) ws.close(1000);
    reportClose();
  };

  const bad = ports.length === 0 ? 'no port to forward' : ports.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
  if (bad !== undefined) {
    const reason = typeof bad === 'string' ? bad : `invalid port ${bad}`;
    log.warn(`port-forward WebSocket refused: ${reason}`);
    pending = 0;
    ws.close(1008, reason);
    ws.once('close', () => {
      closed = true;
      reportClose();
    });
    return;
  }

  const send = (channel: number, payload: Buffer): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(encodeChannelMessage(channel, payload, base64));
  };

  const channels = ports.map((port, i) => {
    const data = new WsChannel(ws, 2 * i, base64, gate);
    data.on('error', (err) => log.debug({ err, port }, 'port-forward channel error'));
    send(2 * i, portPrefix(port));
    send(2 * i + 1, portPrefix(port));
    return data;
  });

  ws.on('message', (message: RawData, isBinary: boolean) => {
    const raw = Buffer.isBuffer(message) ? message : Array.isArray(message) ? Buffer.concat(message) : Buffer.from(message);
    let m;
    try {
      m = decodeChannelMessage(raw, isBinary, base64, false);
    } catch (err) {
      // kubelet's wsstream logs a frame it cannot use and goes on.
      log.debug({ err }, 'port-forward WebSocket message ignored');
      return;
    }
    // Error channels and unknown channels carry nothing for the server (wsstream ignores them too).
    if (m?.type !== 'data' || m.channel % 2 !== 0) return;
    channels[m.channel / 2]?.deliver(m.data);
  });
  ws.on('error', (err) => log.debug({ err }, 'port-forward WebSocket error'));
  ws.on('close', () => {
    closed = true;
    for (const c of channels) c.destroy();
    for (const r of [...relays]) r.destroy();
    log.debug('port-forward WebSocket closed');
    reportClose();
  });

  ports.forEach((port, i) => {
    const data = channels[i]!;
    const plog = log.child({ port });
    opts.dialer.dial(port).then(
      (socket) => {
        if (closed) {
          socket.destroy();
          pairDone();
          return;
        }
        const handle = relay(data, socket, { graceMs: opts.graceMs }, (result) => {
          relays.delete(handle);
          if (result.podError) {
            plog.info({ err: result.podError }, 'port-forward connection to the pod failed');
            send(2 * i + 1, Buffer.from(forwardError(port, target.sandboxId, result.podError)));
          }
          pairDone();
        });
        relays.add(handle);
      },
      (err: unknown) => {
        plog.info({ err }, 'port-forward connection failed');
        send(2 * i + 1, Buffer.from(forwardError(port, target.sandboxId, err)));
        data.destroy();
        pairDone();
      },
    );
  });
}
