// SPDY/3.1 protocol numbers (SPDY Protocol draft 3.1, §2.6). SPDY/3.1 is SPDY/3 plus session-level
// flow control (WINDOW_UPDATE on stream 0); the frame version field stays 3.

export const SPDY_VERSION = 3;

/** Control frame types. 5 (NOOP) was SPDY/2 only, 10 (CREDENTIAL) SPDY/3 only: both are ignored. */
export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/** Flags. FIN is valid on DATA, SYN_STREAM, SYN_REPLY and HEADERS; UNIDIRECTIONAL on SYN_STREAM. */
export const Flag = {
  FIN: 0x01,
  UNIDIRECTIONAL: 0x02,
  /** SETTINGS only. */
  CLEAR_SETTINGS: 0x01,
} as const;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  /** SPDY/3 only (CREDENTIAL frames); unused in 3.1. */
  INVALID_CREDENTIALS: 10,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = {
  OK: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
} as const;

/** SETTINGS ids. Only INITIAL_WINDOW_SIZE and MAX_CONCURRENT_STREAMS change crisp's behaviour. */
export const SettingsId = {
  UPLOAD_BANDWIDTH: 1,
  DOWNLOAD_BANDWIDTH: 2,
  ROUND_TRIP_TIME: 3,
  MAX_CONCURRENT_STREAMS: 4,
  CURRENT_CWND: 5,
  DOWNLOAD_RETRANS_RATE: 6,
  INITIAL_WINDOW_SIZE: 7,
  CLIENT_CERTIFICATE_VECTOR_SIZE: 8,
} as const;

/** Flags of one SETTINGS entry. */
export const SettingsFlag = {
  PERSIST_VALUE: 0x01,
  PERSISTED: 0x02,
} as const;

/** Default initial window, per stream (changed by SETTINGS) and per session (fixed in 3.1). */
export const DEFAULT_WINDOW_SIZE = 65_536;
/** Largest window a WINDOW_UPDATE may produce, and largest stream id: 2^31 - 1. */
export const MAX_WINDOW_SIZE = 0x7fff_ffff;
export const MAX_STREAM_ID = 0x7fff_ffff;
/** Frame lengths are 24-bit. */
export const MAX_FRAME_LENGTH = 0xff_ffff;
/** Every frame starts with 8 bytes. */
export const FRAME_HEADER_SIZE = 8;

const RST_NAMES = new Map<number, string>(Object.entries(RstStatus).map(([k, v]) => [v, k]));
const GOAWAY_NAMES = new Map<number, string>(Object.entries(GoAwayStatus).map(([k, v]) => [v, k]));

export const rstStatusName = (status: number): string => RST_NAMES.get(status) ?? `status ${status}`;
export const goAwayStatusName = (status: number): string => GOAWAY_NAMES.get(status) ?? `status ${status}`;
