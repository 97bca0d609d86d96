// SPDY/3.1, the framing kubelet uses to forward `kubectl exec/attach/port-forward` to a runtime's
// streaming server: written from the SPDY/3.1 draft, self-contained (Node's zlib only).
//
// Using it from the streaming server:
//
//   server.on('upgrade', (req, socket, head) => {
//     // check the token; pick a subprotocol from X-Stream-Protocol-Version (e.g. v4.channel.k8s.io)
//     socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
//                  `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
//     const conn = createSpdyServerConnection(socket, head);
//     conn.on('stream', (stream) => {
//       switch (stream.header('streamtype')) {       // port-forward: also header('port'), header('requestid')
//         case 'stdin':  stream.pipe(processStdin); break;
//         case 'stdout': processStdout.pipe(stream); break;
//         case 'error':  errorStream = stream; break;  // write the v4 Status JSON, then end()
//         case 'resize': stream.on('data', ...); break;
//         default: stream.reset(RstStatus.PROTOCOL_ERROR);
//       }
//       stream.on('error', ...);                       // remote RST_STREAM, connection lost
//     });
//     conn.on('close', () => ...);                     // clean up the process, FIFOs...
//     // when done: conn.close() (GOAWAY, then the socket ends once the streams are finished)
//   });
//
// API
//   createSpdyServerConnection(socket: Duplex, head?: Buffer, options?: SpdyConnectionOptions): SpdyConnection
//   createSpdyClientConnection(socket: Duplex, head?: Buffer, options?: SpdyConnectionOptions): SpdyConnection
//   SpdyConnection (EventEmitter)
//     'stream' (stream: SpdyStream)       a stream the peer opened (server: odd ids)
//     'goaway' (lastGoodStreamId, status) the peer stops opening streams; the connection closes with its last stream
//     'settings' (entries)                the peer's SETTINGS
//     'error' (err)                       session or socket error (never throws when unhandled)
//     'close' ()                          socket closed, all streams finished or destroyed
//     openStream(headers, { fin?, priority? }): SpdyStream     (client role mostly; waits for SYN_REPLY before DATA)
//     ping(): Promise<number>                                    round trip in ms
//     close(timeoutMs?): void                                    graceful: GOAWAY(OK), end when idle (or destroy after timeoutMs)
//     destroy(err?): void                                        abrupt
//     openStreams: number, isClosed: boolean, isServer: boolean
//   SpdyStream (Duplex)
//     id, headers (SYN_STREAM headers, lowercase names → values), header(name): first value,
//     priority, initiatedLocally, replyHeaders, resetStatus
//     reply(headers = {}, { fin? })   SYN_REPLY (sent automatically, empty, if the 'stream' listeners did not)
//     sendHeaders(headers, { fin? })  HEADERS
//     write()/end()                   DATA frames / FIN (half-close); honours the peer's windows
//     reset(status = CANCEL)          RST_STREAM and destroy
//     'data'/'end'                    the peer's DATA / FIN
//     'error'                         SpdyStreamResetError (peer's RST_STREAM: .status, .cancelled),
//                                     SpdyConnectionClosedError (never throws when unhandled)
//     'reply' (headers), 'headers' (headers)
//   Lower layers (tests, tools): encodeFrame/decodeFrame (frames.ts), FrameParser (parser.ts),
//   HeaderCompressor/HeaderDecompressor/encodeHeaderBlock/decodeHeaderBlock/SPDY3_DICTIONARY
//   (headers.ts), protocol numbers (constants.ts).
//
// Interop with kubelet / client-go (Go's moby/spdystream over golang.org/x/net/spdy's framer):
// - The client sends nothing before its first SYN_STREAM: no SETTINGS, no WINDOW_UPDATE, ever.
//   remotecommand opens the error stream first, then stdin, stdout, stderr, resize as requested
//   (header `streamtype`); port-forward opens an error and a data stream per connection (headers
//   `streamtype`, `port`, `requestid`). Names arrive lowercase (Go lowercases them), priority 0.
// - Each CreateStream waits for its SYN_REPLY (client-go: 30 s) before the next: reply at once.
// - spdystream drops DATA (and FIN) on a stream it opened until it has received the SYN_REPLY,
//   and drops DATA for the peer's streams until it has replied; so reply before writing.
// - No flow control on its side (hence flowControl 'auto'); each Write() is one DATA frame.
// - Its Close() is an empty DATA frame with FIN; its Reset() a RST_STREAM CANCEL; its connection
//   Close() a GOAWAY(OK), after which it closes TCP once its streams are finished.
// - It sends PINGs (odd ids; client-go pings every few seconds on newer versions) and expects an
//   echo; it echoes ours (even ids). Its framer rejects a PING with flags, an unknown control
//   frame type, an uppercase or duplicate header name: any of these kills its connection.
export * from './constants';
export * from './errors';
export {
  decodeFrame,
  decodeFrameHead,
  encodeDataFrameHead,
  encodeFrame,
} from './frames';
export type {
  DataFrame,
  Frame,
  FrameHead,
  FrameInit,
  GoAwayFrame,
  HeadersFrame,
  PingFrame,
  RstStreamFrame,
  SettingsEntry,
  SettingsFrame,
  SynReplyFrame,
  SynStreamFrame,
  UnknownFrame,
  WindowUpdateFrame,
} from './frames';
export {
  DEFAULT_MAX_HEADER_BLOCK_SIZE,
  HeaderCompressor,
  HeaderDecompressor,
  SPDY3_DICTIONARY,
  SpdyHeaderBlockError,
  decodeHeaderBlock,
  encodeHeaderBlock,
  headerValue,
} from './headers';
export type { SpdyHeaders, SpdyHeadersInit } from './headers';
export { DEFAULT_MAX_CONTROL_FRAME_SIZE, FrameParser } from './parser';
export type { FrameParserOptions } from './parser';
export { SpdyConnection, createSpdyClientConnection, createSpdyServerConnection } from './connection';
export type { FlowControlMode, OpenStreamOptions, SpdyConnectionOptions } from './connection';
export { SpdyStream } from './stream';
