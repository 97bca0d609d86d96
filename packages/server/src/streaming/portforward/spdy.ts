// `portforward.k8s.io` over SPDY/3.1, as kubelet's streaming server serves it: for each forwarded
// connection the client opens an error stream and a data stream (headers `streamtype`, `port`,
// `requestid`); the pair is matched by request id, then the data stream is relayed to
// localhost:<port> in the pod. A failure is written on that pair's error stream and ends that
// pair only; the session stays for the next connections.
import type { Socket } from 'node:net';
import type { Logger } from '../../log';
import { RstStatus, SpdyConnection, SpdyStream } from '../spdy';
import type { PortForwardTarget } from '../types';
import type { PortDialer } from './netns-dialer';
import { RelayHandle, relay } from './relay';

export interface SpdySessionOptions {
  logger: Logger;
  dialer: PortDialer;
  /** A pair whose second stream has not come by then is dropped with an error (kubelet: 30 s). */
  pairTimeoutMs: number;
  /** See RelayOptions.graceMs. */
  graceMs: number;
  /** Called once the connection has closed and every pair is finished. */
  onClose?: () => void;
}

/** The error message for a failed connection, worded as kubelet's streaming server words it. */
export function forwardError(port: number, sandboxId: string, err: unknown): string {
  return `error forwarding port ${port} to pod ${sandboxId}, uid : ${err instanceof Error ? err.message : String(err)}`;
}

/** A stream's `port` header: a decimal 1..65535, or an error message. */
export function parsePortHeader(value: string | undefined): number | string {
  if (value === undefined || value === '') return '"port" header is required';
  if (!/^[0-9]{1,5}$/.test(value)) return `unable to parse "${value}" as a port`;
  const port = Number(value);
  if (port > 65535) return `unable to parse "${value}" as a port: out of range`;
  if (port < 1) return `port "${value}" must be > 0`;
  return port;
}

interface Pair {
  requestId: string;
  error?: SpdyStream;
  data?: SpdyStream;
  timer?: NodeJS.Timeout;
}

/** Serves one upgraded SPDY connection until it closes. */
export function serveSpdyPortForward(conn: SpdyConnection, target: PortForwardTarget, opts: SpdySessionOptions): void {
  const log = opts.logger.child({ podSandboxId: target.sandboxId, protocol: 'spdy' });
  /** Pairs still waiting for their second stream, by request id. */
  const waiting = new Map<string, Pair>();
  const relays = new Set<RelayHandle>();
  /** Dialled sockets not yet relayed (the connection may close meanwhile). */
  const dialing = new Set<Promise<Socket | undefined>>();
  let closed = false;

  const writeError = (stream: SpdyStream | undefined, message: string): void => {
    if (!stream || stream.destroyed || stream.writableEnded) return;
    stream.end(message);
  };

  /** kubelet's fallback for old clients without request ids: consecutive stream ids make a pair. */
  const requestIdOf = (stream: SpdyStream, type: string): string => {
    const id = stream.header('requestid');
    if (id !== undefined && id !== '') return id;
    return String(type === 'error' ? stream.id : stream.id - 2);
  };

  const forward = (pair: Pair): void => {
    const data = pair.data!;
    const error = pair.error!;
    const port = parsePortHeader(data.header('port')) as number;
    const plog = log.child({ requestId: pair.requestId, port });
    const dial = opts.dialer.dial(port).then(
      (socket) => socket,
      (err: unknown) => {
        plog.info({ err }, 'port-forward connection failed');
        writeError(error, forwardError(port, target.sandboxId, err));
        data.end();
        return undefined;
      },
    );
    dialing.add(dial);
    void dial.then((socket) => {
      dialing.delete(dial);
      if (!socket) return;
      if (closed || data.destroyed) {
        // The session or the client's data stream went while connecting.
        socket.destroy();
        if (!error.destroyed && !error.writableEnded) error.end();
        return;
      }
      plog.debug('port-forward connection open');
      // kubectl closes its local connection once the error stream ends, not when the data stream
      // does: end it as soon as the pod has closed cleanly, so that a client reading until EOF is
      // not kept waiting for the grace period.
      const onPodEnd = (): void => {
        if (!error.destroyed && !error.writableEnded) error.end();
      };
      const handle = relay(data, socket, { graceMs: opts.graceMs, onPodEnd }, (result) => {
        relays.delete(handle);
        if (result.podError) {
          // After the pod's clean end (error stream already ended), a late failure is only logged.
          plog.info({ err: result.podError }, 'port-forward connection to the pod failed');
          writeError(error, forwardError(port, target.sandboxId, result.podError));
        } else {
          if (result.clientError) plog.debug({ err: result.clientError }, 'port-forward client stream ended abruptly');
          if (!error.destroyed && !error.writableEnded) error.end();
        }
        maybeClosed();
      });
      relays.add(handle);
    });
  };

  const onStream = (stream: SpdyStream): void => {
    stream.on('error', (err) => log.debug({ err, streamId: stream.id }, 'port-forward stream error'));
    // Checked as kubelet checks them before it accepts a stream; a bad one is reset, nothing else.
    const port = parsePortHeader(stream.header('port'));
    const type = stream.header('streamtype');
    const bad =
      typeof port === 'string' ? port
      : type === undefined || type === '' ? '"streamType" header is required'
      : type !== 'error' && type !== 'data' ? `invalid stream type "${type}"`
      : undefined;
    if (bad) {
      log.warn({ streamId: stream.id, headers: stream.headers }, `port-forward stream refused: ${bad}`);
      stream.reset(RstStatus.CANCEL);
      return;
    }
    stream.reply();
    const kind = type as 'error' | 'data';
    const requestId = requestIdOf(stream, kind);
    let pair = waiting.get(requestId);
    if (!pair) {
      const created: Pair = { requestId };
      created.timer = setTimeout(() => {
        if (waiting.get(requestId) !== created) return;
        waiting.delete(requestId);
        log.info({ requestId }, 'port-forward stream pair incomplete: dropped');
        writeError(created.error, `timed out waiting for streams of request ${requestId}`);
        created.data?.end();
        maybeClosed();
      }, opts.pairTimeoutMs);
      waiting.set(requestId, created);
      pair = created;
    }
    if (pair[kind]) {
      const msg = `error processing stream for request ${requestId}: ${kind} stream already assigned`;
      log.warn({ requestId, streamId: stream.id }, msg);
      // Written, not ended: the pair may still complete and forward.
      if (pair.error && !pair.error.destroyed && !pair.error.writableEnded) pair.error.write(msg);
      stream.reset(RstStatus.CANCEL);
      return;
    }
    pair[kind] = stream;
    // The client writes nothing on the error stream; read it so that its FIN is seen.
    if (kind === 'error') stream.resume();
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      waiting.delete(requestId);
      forward(pair);
    }
  };

  let closeReported = false;
  const maybeClosed = (): void => {
    if (!closed || closeReported || relays.size > 0 || dialing.size > 0) return;
    closeReported = true;
    opts.onClose?.();
  };

  conn.on('stream', onStream);
  conn.on('error', (err) => log.debug({ err }, 'port-forward SPDY connection error'));
  conn.on('close', () => {
    closed = true;
    for (const pair of waiting.values()) clearTimeout(pair.timer);
    waiting.clear();
    for (const r of [...relays]) r.destroy();
    log.debug('port-forward session closed');
    maybeClosed();
  });
}
