// Remote commands over a WebSocket (crictl --transport websocket, client-go's WebSocket executor):
// channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize in one connection (see ws-framing.ts).
import { PassThrough } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../log';
import { TerminalSizeDecoder, encodeStatus } from './protocol';
import type { RemoteCommandProtocol, StatusDocument, TerminalSize } from './protocol';
import { OUTPUT_HIGH_WATER_MARK } from './remotecommand';
import type { OutputSink, RemoteCommandStreams, StreamsWanted } from './remotecommand';
import { decodeChannelMessage, encodeChannelMessage } from './ws-framing';

export const STDIN_CHANNEL = 0;
export const STDOUT_CHANNEL = 1;
export const STDERR_CHANNEL = 2;
export const ERROR_CHANNEL = 3;
export const RESIZE_CHANNEL = 4;

/** Normal closure. */
const WS_CLOSE_NORMAL = 1000;
/** The client broke the framing. */
const WS_CLOSE_PROTOCOL_ERROR = 1002;

export function acceptWebSocketRemoteCommand(ws: WebSocket, protocol: RemoteCommandProtocol, want: StreamsWanted, log: Logger): RemoteCommandStreams {
  const gone = new AbortController();
  const resizeListeners: ((size: TerminalSize) => void)[] = [];
  const decoder = new TerminalSizeDecoder();
  let finished = false;
  const stdin = want.stdin ? new PassThrough() : undefined;

  const send = (channel: number, data: Buffer, cb?: (err?: Error) => void): void => {
    ws.send(encodeChannelMessage(channel, data, protocol.base64), { binary: !protocol.base64 }, cb);
  };
  const sink = (channel: number): OutputSink => ({
    write(chunk) {
      if (finished || ws.readyState !== ws.OPEN) return undefined;
      if (ws.bufferedAmount <= OUTPUT_HIGH_WATER_MARK) {
        send(channel, chunk);
        return undefined;
      }
      return new Promise<void>((resolve) => send(channel, chunk, () => resolve()));
    },
  });

  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    const buf = Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw);
    let msg;
    try {
      msg = decodeChannelMessage(buf, isBinary, protocol.base64, protocol.closeChannel);
    } catch (err) {
      log.debug({ err }, 'bad WebSocket channel message: closing');
      ws.close(WS_CLOSE_PROTOCOL_ERROR, 'bad channel message');
      return;
    }
    if (!msg) return;
    if (msg.type === 'close') {
      if (msg.channel === STDIN_CHANNEL) stdin?.end();
      return;
    }
    switch (msg.channel) {
      case STDIN_CHANNEL:
        if (stdin && !stdin.writableEnded && !stdin.write(msg.data)) {
          // Stop reading the socket until the process took the input.
          ws.pause();
          stdin.once('drain', () => ws.resume());
        }
        break;
      case RESIZE_CHANNEL: {
        if (!want.tty) break;
        let sizes: TerminalSize[];
        try {
          sizes = decoder.push(msg.data);
        } catch (err) {
          log.debug({ err }, 'bad resize message: ignored');
          break;
        }
        for (const size of sizes) for (const l of resizeListeners) l(size);
        break;
      }
      default:
        log.debug({ channel: msg.channel }, 'data on a channel the client may not write: ignored');
    }
  });
  ws.on('error', (err) => log.debug({ err }, 'WebSocket error'));
  ws.once('close', () => {
    stdin?.end();
    if (!finished) gone.abort();
  });

  // Tell the client the session is up: an empty message on the lowest channel it reads (as kubelet does).
  send(want.stdout ? STDOUT_CHANNEL : want.stderr && !want.tty ? STDERR_CHANNEL : ERROR_CHANNEL, Buffer.alloc(0));

  return {
    protocol,
    ...(stdin ? { stdin } : {}),
    ...(want.stdout ? { stdout: sink(STDOUT_CHANNEL) } : {}),
    ...(want.stderr && !want.tty ? { stderr: sink(STDERR_CHANNEL) } : {}),
    clientGone: gone.signal,
    onResize(listener) {
      resizeListeners.push(listener);
    },
    finish(status: StatusDocument) {
      if (finished) return;
      finished = true;
      if (ws.readyState !== ws.OPEN) return;
      const bytes = encodeStatus(status, protocol);
      if (bytes) send(ERROR_CHANNEL, bytes);
      // ws bounds the closing handshake itself (it terminates a peer that does not answer).
      ws.close(WS_CLOSE_NORMAL);
    },
    destroy() {
      finished = true;
      ws.terminate();
    },
  };
}
