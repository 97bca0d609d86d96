// Errors of the SPDY/3.1 layer. The spec has two kinds (SPDY/3 §2.4): a session error ends the
// connection (GOAWAY with a status, then close), a stream error resets one stream (RST_STREAM with
// a status) and leaves the others alone.
import { GoAwayStatus, RstStatus, rstStatusName } from './constants';

export class SpdyError extends Error {
  override name = 'SpdyError';
  constructor(
    message: string,
    readonly code: string = 'ERR_SPDY',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A session error: the peer broke the framing layer (a malformed or oversized frame, a header
 * block that does not decompress, a stream id going backwards...). The connection answers with
 * GOAWAY(`goAwayStatus`) and closes.
 */
export class SpdyProtocolError extends SpdyError {
  override name = 'SpdyProtocolError';
  constructor(
    message: string,
    readonly goAwayStatus: number = GoAwayStatus.PROTOCOL_ERROR,
    options?: { cause?: unknown },
  ) {
    super(message, 'ERR_SPDY_PROTOCOL', options);
  }
}

/** A stream ended by RST_STREAM, sent by the peer (`remote`) or by this side for a peer's fault. */
export class SpdyStreamResetError extends SpdyError {
  override name = 'SpdyStreamResetError';
  constructor(
    readonly streamId: number,
    readonly status: number,
    readonly remote: boolean,
  ) {
    super(
      `SPDY stream ${streamId} ${remote ? 'reset by the peer' : 'reset'}: ${rstStatusName(status)}`,
      'ERR_SPDY_STREAM_RESET',
    );
  }

  /** The peer cancelled the stream (RST_STREAM CANCEL: what spdystream's Reset() sends). */
  get cancelled(): boolean {
    return this.status === RstStatus.CANCEL;
  }
}

/** The connection ended (socket closed, GOAWAY, session error) before the stream was finished. */
export class SpdyConnectionClosedError extends SpdyError {
  override name = 'SpdyConnectionClosedError';
  constructor(message = 'SPDY connection closed', options?: { cause?: unknown }) {
    super(message, 'ERR_SPDY_CONNECTION_CLOSED', options);
  }
}
