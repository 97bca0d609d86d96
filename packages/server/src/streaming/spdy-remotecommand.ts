// Remote commands over SPDY/3.1: the client opens one stream per stdio stream it wants, told apart
// by the `streamtype` header (client-go opens error first, then stdin, stdout, stderr, resize). The
// session starts once all expected streams exist; a client that does not open them in time is cut off.
import type { Logger } from '../log';
import { RstStatus } from './spdy';
import type { SpdyConnection, SpdyStream } from './spdy';
import { TerminalSizeDecoder, encodeStatus } from './protocol';
import type { RemoteCommandProtocol, StatusDocument, TerminalSize } from './protocol';
import { FINISH_CLOSE_TIMEOUT_MS, OUTPUT_HIGH_WATER_MARK, STREAM_CREATION_TIMEOUT_MS } from './remotecommand';
import type { OutputSink, RemoteCommandStreams, StreamsWanted } from './remotecommand';

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** The stream types a session with `want` needs, error first. */
export function expectedStreamTypes(want: StreamsWanted, protocol: RemoteCommandProtocol): StreamType[] {
  const types: StreamType[] = ['error'];
  if (want.stdin) types.push('stdin');
  if (want.stdout) types.push('stdout');
  // With a terminal there is no separate stderr (the CRI request cannot ask for both).
  if (want.stderr && !want.tty) types.push('stderr');
  if (want.tty && protocol.resize) types.push('resize');
  return types;
}

function sink(stream: SpdyStream): OutputSink {
  return {
    write(chunk) {
      if (stream.destroyed || stream.writableEnded) return undefined;
      stream.write(chunk);
      if (stream.writableLength <= OUTPUT_HIGH_WATER_MARK) return undefined;
      return new Promise<void>((resolve) => {
        const done = (): void => {
          stream.off('drain', done);
          stream.off('close', done);
          resolve();
        };
        stream.on('drain', done);
        stream.on('close', done);
      });
    },
  };
}

/**
 * Waits for the client's streams on `conn` and returns the session's view of them. Rejects (and
 * destroys the connection) when the client does not open them within `timeoutMs` or goes away.
 */
export function acceptSpdyRemoteCommand(
  conn: SpdyConnection,
  protocol: RemoteCommandProtocol,
  want: StreamsWanted,
  log: Logger,
  timeoutMs = STREAM_CREATION_TIMEOUT_MS,
): Promise<RemoteCommandStreams> {
  const expected = new Set(expectedStreamTypes(want, protocol));
  const streams = new Map<StreamType, SpdyStream>();
  const gone = new AbortController();

  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      fail(new Error(`timed out after ${timeoutMs} ms waiting for the client to open its streams (${[...expected].filter((t) => !streams.has(t)).join(', ')} missing)`));
    }, timeoutMs);
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.off('stream', onStream);
      conn.destroy();
      reject(err);
    };
    conn.once('close', () => {
      gone.abort();
      fail(new Error('the client closed the connection before opening its streams'));
    });

    const onStream = (stream: SpdyStream): void => {
      const type = stream.header('streamtype') as StreamType | undefined;
      stream.on('error', (err) => log.debug({ err, streamType: type }, 'SPDY stream error'));
      if (!type || !expected.has(type) || streams.has(type)) {
        log.debug({ streamType: type }, 'unexpected SPDY stream: reset');
        stream.reset(RstStatus.PROTOCOL_ERROR);
        return;
      }
      stream.reply();
      streams.set(type, stream);
      // Streams the client does not write to still need their FIN read for the stream to close.
      if (type !== 'stdin' && type !== 'resize') stream.resume();
      if (streams.size === expected.size) {
        settled = true;
        clearTimeout(timer);
        conn.off('stream', onStream);
        // Streams opened later than the session's set are refused.
        conn.on('stream', (extra: SpdyStream) => extra.reset(RstStatus.REFUSED_STREAM));
        resolve(session(conn, protocol, streams, gone.signal, log));
      }
    };
    conn.on('stream', onStream);
  });
}

function session(conn: SpdyConnection, protocol: RemoteCommandProtocol, streams: Map<StreamType, SpdyStream>, clientGone: AbortSignal, log: Logger): RemoteCommandStreams {
  const stdin = streams.get('stdin');
  const stdout = streams.get('stdout');
  const stderr = streams.get('stderr');
  const resize = streams.get('resize');
  const error = streams.get('error')!;
  let finished = false;
  return {
    protocol,
    ...(stdin ? { stdin } : {}),
    ...(stdout ? { stdout: sink(stdout) } : {}),
    ...(stderr ? { stderr: sink(stderr) } : {}),
    clientGone,
    onResize(listener: (size: TerminalSize) => void) {
      if (!resize) return;
      const decoder = new TerminalSizeDecoder();
      resize.on('data', (chunk: Buffer) => {
        let sizes: TerminalSize[];
        try {
          sizes = decoder.push(chunk);
        } catch (err) {
          log.debug({ err }, 'bad resize message: resize stream reset');
          resize.reset(RstStatus.PROTOCOL_ERROR);
          return;
        }
        for (const size of sizes) listener(size);
      });
    },
    finish(status: StatusDocument) {
      if (finished) return;
      finished = true;
      if (conn.isClosed) return;
      stdout?.end();
      stderr?.end();
      const bytes = encodeStatus(status, protocol);
      if (bytes) error.write(bytes);
      error.end();
      // Half-close the client's input streams from this side too, so that the connection can close.
      stdin?.end();
      resize?.end();
      conn.close(FINISH_CLOSE_TIMEOUT_MS);
    },
    destroy() {
      finished = true;
      conn.destroy();
    },
  };
}
