// A remote command client (exec, attach) written from the protocols kubelet and client-go speak to
// a CRI streaming server: SPDY/3.1 streams told apart by `streamtype`, or WebSocket channels
// (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 closes a channel with [255, c]).
import type { SpdyStream } from '@crisp/server';
import { openSpdy, openWebSocket } from './upgrade';
import type { UpgradeOptions } from './upgrade';

export const SPDY_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
export const WEBSOCKET_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

export interface RemoteCommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** Subprotocols to offer, most preferred first (defaults above). */
  protocols?: string[];
  upgrade?: UpgradeOptions;
}

/** The metav1.Status of a v4+ error stream (the fields the tests read). */
export interface StatusJson {
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

export interface RemoteCommandResult {
  stdout: Buffer;
  stderr: Buffer;
  /** Raw bytes of the error stream. */
  error: Buffer;
  /** The error stream as a Status (v4+ protocols), when it parsed as JSON. */
  status?: StatusJson;
  /** 0 for Success, the ExitCode cause of NonZeroExitCode; undefined otherwise. */
  exitCode?: number;
}

export interface RemoteCommandSession {
  /** The negotiated subprotocol. */
  protocol: string;
  writeStdin(data: string | Buffer): void;
  /** SPDY: FIN on the stdin stream; WebSocket v5: close channel 0 (earlier versions cannot). */
  closeStdin(): void;
  resize(width: number, height: number): void;
  /** Resolves once stdout (everything received so far) satisfies `test`; rejects if the session ends first. */
  waitForStdout(test: (text: string) => boolean): Promise<string>;
  /** Settles when the server ended the session (error stream/connection closed). */
  result: Promise<RemoteCommandResult>;
  /** Drops the connection without any goodbye (a client that dies). */
  disconnect(): void;
}

/** Reads exit code and Status from the error stream's bytes. */
export function interpretError(error: Buffer): Pick<RemoteCommandResult, 'status' | 'exitCode'> {
  if (error.length === 0) return {};
  let status: StatusJson;
  try {
    status = JSON.parse(error.toString('utf8')) as StatusJson;
  } catch {
    return {};
  }
  if (status.status === 'Success') return { status, exitCode: 0 };
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return status.reason === 'NonZeroExitCode' && cause?.message !== undefined ? { status, exitCode: Number(cause.message) } : { status };
}

/** Collects output and lets waitForStdout() watch it. */
class Output {
  readonly stdout: Buffer[] = [];
  readonly stderr: Buffer[] = [];
  readonly error: Buffer[] = [];
  private waiters: { test: (t: string) => boolean; resolve: (t: string) => void; reject: (e: Error) => void }[] = [];
  private ended = false;

  text(): string {
    return Buffer.concat(this.stdout).toString('utf8');
  }
  pushStdout(chunk: Buffer): void {
    this.stdout.push(chunk);
    const text = this.text();
    this.waiters = this.waiters.filter((w) => (w.test(text) ? (w.resolve(text), false) : true));
  }
  waitForStdout(test: (text: string) => boolean): Promise<string> {
    const text = this.text();
    if (test(text)) return Promise.resolve(text);
    if (this.ended) return Promise.reject(new Error(`session ended; stdout was ${JSON.stringify(text)}`));
    return new Promise((resolve, reject) => this.waiters.push({ test, resolve, reject }));
  }
  end(): RemoteCommandResult {
    this.ended = true;
    const text = this.text();
    for (const w of this.waiters) w.reject(new Error(`session ended; stdout was ${JSON.stringify(text)}`));
    this.waiters = [];
    const error = Buffer.concat(this.error);
    return { stdout: Buffer.concat(this.stdout), stderr: Buffer.concat(this.stderr), error, ...interpretError(error) };
  }
}

function endOf(stream: SpdyStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve();
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
  });
}

/** Opens a remote command session over SPDY/3.1 the way client-go does (streams opened error first). */
export async function spdyRemoteCommand(url: string, opts: RemoteCommandOptions): Promise<RemoteCommandSession> {
  const { conn, protocol } = await openSpdy(url, opts.protocols ?? SPDY_PROTOCOLS, opts.upgrade);
  const out = new Output();
  const open = (type: string): SpdyStream => {
    const s = conn.openStream({ streamtype: type });
    s.on('error', () => undefined);
    return s;
  };
  const error = open('error');
  const stdin = opts.stdin ? open('stdin') : undefined;
  const stdout = opts.stdout ? open('stdout') : undefined;
  const stderr = opts.stderr && !opts.tty ? open('stderr') : undefined;
  const resize = opts.tty && protocol !== 'v2.channel.k8s.io' && protocol !== 'channel.k8s.io' ? open('resize') : undefined;
  error.on('data', (c: Buffer) => out.error.push(c));
  stdout?.on('data', (c: Buffer) => out.pushStdout(c));
  stderr?.on('data', (c: Buffer) => out.stderr.push(c));
  // The client writes nothing on these: reading them sees their FIN.
  const reads = [error, stdout, stderr].filter((s): s is SpdyStream => s !== undefined).map(endOf);
  const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  const result = Promise.race([Promise.all(reads), closed]).then(() => {
    const r = out.end();
    conn.close(1000);
    return r;
  });
  return {
    protocol,
    writeStdin: (data) => void stdin?.write(data),
    closeStdin: () => void stdin?.end(),
    resize: (width, height) => void resize?.write(`${JSON.stringify({ Width: width, Height: height })}\n`),
    waitForStdout: (test) => out.waitForStdout(test),
    result,
    disconnect: () => conn.destroy(),
  };
}

/** Opens a remote command session over a WebSocket the way client-go's WebSocket executor does. */
export async function webSocketRemoteCommand(url: string, opts: RemoteCommandOptions): Promise<RemoteCommandSession> {
  const { ws, protocol } = await openWebSocket(url, opts.protocols ?? WEBSOCKET_PROTOCOLS, opts.upgrade);
  const base64 = protocol.includes('base64');
  const out = new Output();
  const send = (channel: number, data: Buffer): void => {
    if (base64) ws.send(String.fromCharCode(0x30 + channel) + data.toString('base64'));
    else ws.send(Buffer.concat([Buffer.from([channel]), data]));
  };
  ws.on('message', (raw: Buffer, isBinary: boolean) => {
    let channel: number;
    let data: Buffer;
    if (base64 && !isBinary) {
      const text = raw.toString('latin1');
      channel = text.charCodeAt(0) - 0x30;
      data = Buffer.from(text.slice(1), 'base64');
    } else {
      channel = raw[0]!;
      data = raw.subarray(1);
    }
    if (data.length === 0) return;
    if (channel === 1) out.pushStdout(data);
    else if (channel === 2) out.stderr.push(data);
    else if (channel === 3) out.error.push(data);
  });
  const result = new Promise<RemoteCommandResult>((resolve) => ws.once('close', () => resolve(out.end())));
  return {
    protocol,
    writeStdin: (data) => send(0, Buffer.from(data)),
    closeStdin: () => {
      if (protocol !== 'v5.channel.k8s.io') throw new Error(`${protocol} cannot close stdin alone`);
      ws.send(Buffer.from([255, 0]));
    },
    resize: (width, height) => send(4, Buffer.from(JSON.stringify({ Width: width, Height: height }))),
    waitForStdout: (test) => out.waitForStdout(test),
    result,
    disconnect: () => ws.terminate(),
  };
}

export type Transport = 'spdy' | 'websocket';

/** Either transport by name (tests run the same cases over both). */
export function remoteCommand(transport: Transport, url: string, opts: RemoteCommandOptions): Promise<RemoteCommandSession> {
  return transport === 'spdy' ? spdyRemoteCommand(url, opts) : webSocketRemoteCommand(url, opts);
}
