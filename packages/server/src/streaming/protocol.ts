// Protocol facts shared by the SPDY and WebSocket transports of remote commands (exec, attach):
// subprotocol names and negotiation, the Status documents of the error stream, and the terminal
// size messages of the resize stream.

/**
 * SPDY remotecommand subprotocols, newest first (the client's preference decides). Over SPDY, v5
 * behaves as v4 (a stream can already be half-closed); the API server's WebSocket translation and
 * client-go offer it first.
 */
export const SPDY_REMOTECOMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;
export const SPDY_PORTFORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;

/** WebSocket remotecommand subprotocols: channel byte framing, or base64 text framing. */
export const WS_REMOTECOMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
] as const;
/** WebSocket port-forward subprotocols (kubelet's: a data and an error channel per port). */
export const WS_PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'portforward.k8s.io'] as const;

/** The client-go header that offers (request) and names (response) the SPDY subprotocol. */
export const PROTOCOL_HEADER = 'x-stream-protocol-version';
/** Sent with a 403 when nothing could be agreed on. */
export const ACCEPTED_PROTOCOLS_HEADER = 'X-Accepted-Stream-Protocol-Versions';

/**
 * Protocol versions offered in a header: Go sends one header line per value, Node joins repeated
 * headers with ", ", and some clients put a list in one line.
 */
export function offeredProtocols(header: string | string[] | undefined): string[] {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/** The first protocol the client offered that the server supports (the client lists its preference first). */
export function negotiate(offered: readonly string[], supported: readonly string[]): string | undefined {
  return offered.find((p) => supported.includes(p));
}

/** What the remote command transports need to know about a subprotocol. */
export interface RemoteCommandProtocol {
  name: string;
  /** The error stream carries a JSON metav1.Status (v4 and later); before, only an error text on failure. */
  statusJson: boolean;
  /** A resize stream/channel exists (SPDY v3+, every WebSocket protocol). */
  resize: boolean;
  /** WebSocket: base64 text framing instead of binary. */
  base64: boolean;
  /** WebSocket v5: the client can half-close a channel (255, channel). */
  closeChannel: boolean;
}

export function remoteCommandProtocol(name: string, transport: 'spdy' | 'websocket'): RemoteCommandProtocol {
  const v4plus = name.startsWith('v4.') || name.startsWith('v5.');
  return {
    name,
    statusJson: v4plus,
    resize: transport === 'websocket' || v4plus || name.startsWith('v3.'),
    base64: name.includes('base64.'),
    closeChannel: name === 'v5.channel.k8s.io',
  };
}

/** The metav1.Status JSON the v4 error stream carries (only the fields clients read). */
export interface StatusDocument {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message: string }[] };
  code?: number;
}

export const NON_ZERO_EXIT_CODE_REASON = 'NonZeroExitCode';
export const EXIT_CODE_CAUSE = 'ExitCode';

export function successStatus(): StatusDocument {
  return { metadata: {}, status: 'Success' };
}

/** A command that ended with a non-zero exit status; client-go turns it into an ExitError with the code. */
export function exitCodeStatus(exitCode: number): StatusDocument {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${exitCode}`,
    reason: NON_ZERO_EXIT_CODE_REASON,
    details: { causes: [{ reason: EXIT_CODE_CAUSE, message: String(exitCode) }] },
  };
}

/** The session failed (the container stopped, containerd refused...). */
export function internalErrorStatus(message: string): StatusDocument {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

/**
 * What goes on the error stream: v4+ the Status JSON; before v4, nothing on success and the
 * message text on failure.
 */
export function encodeStatus(status: StatusDocument, protocol: RemoteCommandProtocol): Buffer | undefined {
  if (protocol.statusJson) return Buffer.from(JSON.stringify(status));
  if (status.status === 'Success') return undefined;
  return Buffer.from(status.message ?? 'error');
}

export interface TerminalSize {
  width: number;
  height: number;
}

/** Largest resize message kept while waiting for its end: a terminal size is a few dozen bytes. */
const MAX_RESIZE_MESSAGE = 4096;

/**
 * Decodes the resize stream: client-go writes one JSON `{"Width":w,"Height":h}` per change (with a
 * newline, from a json.Encoder), and a Go json.Decoder reads them back to back; chunks may split or
 * join them. Malformed input throws (the session ends its resize handling).
 */
export class TerminalSizeDecoder {
  private pending = '';

  /** The sizes completed by `chunk`, in order. */
  push(chunk: Buffer | string): TerminalSize[] {
    this.pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const sizes: TerminalSize[] = [];
    for (;;) {
      this.pending = this.pending.trimStart();
      if (this.pending === '') break;
      if (this.pending[0] !== '{') throw new Error(`resize stream: expected a JSON object, got ${JSON.stringify(this.pending.slice(0, 32))}`);
      const end = objectEnd(this.pending);
      if (end < 0) {
        if (this.pending.length > MAX_RESIZE_MESSAGE) throw new Error('resize stream: message too long');
        break;
      }
      const text = this.pending.slice(0, end);
      this.pending = this.pending.slice(end);
      sizes.push(parseTerminalSize(text));
    }
    return sizes;
  }
}

/** Index just past the JSON object starting at 0, or -1 if it is not complete yet. */
function objectEnd(s: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
  }
  return -1;
}

/** One TerminalSize message; Go's decoder matches field names case-insensitively. */
export function parseTerminalSize(text: string): TerminalSize {
  const raw: unknown = JSON.parse(text);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('resize message is not a JSON object');
  let width = 0;
  let height = 0;
  for (const [key, value] of Object.entries(raw)) {
    const k = key.toLowerCase();
    if (k !== 'width' && k !== 'height') continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
      throw new Error(`resize message: ${key} must be an integer in [0, 65535], got ${JSON.stringify(value)}`);
    }
    if (k === 'width') width = value;
    else height = value;
  }
  return { width, height };
}
