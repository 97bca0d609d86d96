// TCP connections to localhost:<port> inside pods' network namespaces, for port forwarding.
//
// One long-lived helper process per namespace (netns-helper.ts, entered with nsenter) connects
// there and hands each connected socket back over its IPC channel; from then on the socket is
// crisp's own, served in crisp's event loop with no copy through the helper. A helper costs one
// spawn for a burst of connections: it is ended when no port-forward session uses its namespace
// any more, after a while without requests, when the pod's sandbox stops (endNetnsDialers), and
// on close(). One that dies is started again on the next request.
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import type { Logger } from '../../log';
import { connectLocalhost } from './netns-helper';
import type { DialReply, DialRequest } from './netns-helper';

export interface NetnsDialerOptions {
  logger: Logger;
  /** The compiled helper; default netns-helper.js next to this module (packages/server/dist). */
  helperScript?: string;
  /** A connect attempt (per address family) gives up after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** A helper with no request for this long ends (the next request starts one). Default 60 s. */
  idleMs?: number;
  /** Connections being opened at once in one namespace; more are refused. Default 128. */
  maxPending?: number;
}

/** Opens connections to localhost:<port> where a session's pod listens. */
export interface PortDialer {
  dial(port: number): Promise<Socket>;
  /** The session is over: its namespace's helper may end. Idempotent. */
  release(): void;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_MS = 60_000;
const DEFAULT_MAX_PENDING = 128;
/** The helper tries IPv4 then IPv6, each with the connect timeout; then a margin for a stuck helper. */
const HELPER_REPLY_MARGIN_MS = 5_000;
/** Namespaces known to be gone, remembered so that a late request does not start a helper there. */
const MAX_CLOSED_REMEMBERED = 1024;
/** After a failed send to a helper, how long its exit (with a better reason) may take. */
const SEND_FAILURE_WAIT_MS = 1_000;
/** Keep this much of a failed helper's stderr for the error message. */
const STDERR_KEEP = 2048;

export class DialError extends Error {
  override name = 'DialError';
}

function defaultHelperScript(): string {
  return path.join(__dirname, 'netns-helper.js');
}

interface Pending {
  resolve: (s: Socket) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** One helper process in one namespace. */
class NetnsHelper {
  readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderr = '';
  private idleTimer: NodeJS.Timeout | undefined;
  exited = false;
  /** Being stopped: takes no new request. */
  private stopping = false;

  constructor(
    readonly netnsPath: string,
    private readonly opts: Required<Omit<NetnsDialerOptions, 'logger'>> & { logger: Logger },
    private readonly onExit: (h: NetnsHelper) => void,
  ) {
    const { logger, helperScript } = opts;
    this.child = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, helperScript], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-STDERR_KEEP);
    });
    this.child.on('message', (m: DialReply, handle?: Socket) => this.onReply(m, handle));
    this.child.on('error', (err) => this.exit(`cannot start the netns helper: ${err.message}`));
    // 'close', not 'exit': by then its stderr (nsenter's reason, say) has been read.
    this.child.on('close', (code, signal) => this.exit(`netns helper exited (${signal ?? `code ${code}`})`));
    logger.debug({ netns: netnsPath, pid: this.child.pid }, 'port-forward netns helper started');
    this.armIdle();
  }

  /** Takes new requests. */
  get usable(): boolean {
    return !this.exited && !this.stopping;
  }

  dial(port: number): Promise<Socket> {
    if (!this.usable) return Promise.reject(new DialError('netns helper has exited'));
    if (this.pending.size >= this.opts.maxPending) {
      return Promise.reject(new DialError(`too many connections being opened in ${this.netnsPath} (${this.opts.maxPending})`));
    }
    const id = this.nextId++;
    clearTimeout(this.idleTimer);
    return new Promise<Socket>((resolve, reject) => {
      const wait = this.opts.connectTimeoutMs * 2 + HELPER_REPLY_MARGIN_MS;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.armIdle();
        reject(new DialError(`netns helper did not answer within ${wait} ms`));
      }, wait);
      this.pending.set(id, { resolve, reject, timer });
      const req: DialRequest = { id, port, timeoutMs: this.opts.connectTimeoutMs };
      this.child.send(req, (err) => {
        if (!err) return;
        // A broken channel usually means the helper is exiting (e.g. nsenter found no namespace):
        // its exit settles the request with the reason from its stderr; this is the fallback.
        const fallback = setTimeout(() => this.settle(id, undefined, new DialError(`cannot reach the netns helper: ${err.message}`)), SEND_FAILURE_WAIT_MS);
        fallback.unref();
      });
    });
  }

  private onReply(m: DialReply, handle: Socket | undefined): void {
    if (typeof m !== 'object' || m === null || typeof m.id !== 'number') return;
    if (m.ok) {
      if (!handle) this.settle(m.id, undefined, new DialError('netns helper answered without a socket'));
      else this.settle(m.id, handle);
    } else {
      this.settle(m.id, undefined, new DialError(m.message));
    }
  }

  private settle(id: number, socket: Socket | undefined, err?: Error): void {
    const p = this.pending.get(id);
    if (!p) {
      socket?.destroy(); // its requester gave up
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (socket) p.resolve(socket);
    else p.reject(err ?? new DialError('no socket'));
    this.armIdle();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.exited || this.pending.size > 0) return;
    this.idleTimer = setTimeout(() => {
      this.opts.logger.debug({ netns: this.netnsPath, pid: this.child.pid }, 'port-forward netns helper idle: ending it');
      this.stop();
    }, this.opts.idleMs);
    this.idleTimer.unref();
  }

  private exit(why: string): void {
    if (this.exited) return;
    this.exited = true;
    clearTimeout(this.idleTimer);
    const detail = this.stderr.trim();
    const err = new DialError(detail ? `${why}: ${detail}` : why);
    for (const [id] of this.pending) this.settle(id, undefined, err);
    this.onExit(this);
  }

  /** Ends the helper: closing the channel makes it exit; SIGKILL if it lingers. Resolves once it has exited. */
  stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.idleTimer);
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      this.exit('netns helper stopped');
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
      if (child.connected) child.disconnect();
      const kill = setTimeout(() => child.kill('SIGKILL'), 2_000);
      kill.unref();
      child.once('exit', () => clearTimeout(kill));
    });
  }
}

interface Entry {
  refs: number;
  helper: NetnsHelper | undefined;
}

/** All dialer pools of this process, so that a stopping sandbox can end its helpers everywhere. */
const pools = new Set<NetnsDialers>();

/**
 * The pod's network namespace is going away (its sandbox stops): ends the helpers in it and
 * refuses new connections there.
 */
export async function endNetnsDialers(netnsPath: string): Promise<void> {
  await Promise.all([...pools].map((p) => p.endNamespace(netnsPath)));
}

export class NetnsDialers {
  private readonly opts: Required<Omit<NetnsDialerOptions, 'logger'>> & { logger: Logger };
  private readonly entries = new Map<string, Entry>();
  private readonly closedNamespaces = new Set<string>();
  /** Helpers told to end and not yet gone: close() waits for them too. */
  private readonly stopping = new Set<Promise<void>>();
  private closed = false;

  constructor(options: NetnsDialerOptions) {
    this.opts = {
      logger: options.logger,
      helperScript: options.helperScript ?? defaultHelperScript(),
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      idleMs: options.idleMs ?? DEFAULT_IDLE_MS,
      maxPending: options.maxPending ?? DEFAULT_MAX_PENDING,
    };
    pools.add(this);
  }

  /** A dialer for a session: in `netnsPath`, or crisp's own namespace (host-network pods) when undefined. */
  acquire(netnsPath: string | undefined): PortDialer {
    const timeout = this.opts.connectTimeoutMs;
    if (netnsPath === undefined) {
      return { dial: (port) => connectLocalhost(port, timeout).then(halfOpen), release: () => undefined };
    }
    const entry = this.entries.get(netnsPath) ?? { refs: 0, helper: undefined };
    this.entries.set(netnsPath, entry);
    entry.refs++;
    let released = false;
    return {
      dial: (port) => this.dial(netnsPath, port).then(halfOpen),
      release: () => {
        if (released) return;
        released = true;
        this.unref(netnsPath);
      },
    };
  }

  private dial(netnsPath: string, port: number): Promise<Socket> {
    if (this.closed) return Promise.reject(new DialError('port forwarding is shutting down'));
    if (this.closedNamespaces.has(netnsPath)) return Promise.reject(new DialError(`network namespace ${netnsPath} is closed (the pod sandbox stopped)`));
    const entry = this.entries.get(netnsPath);
    if (!entry) return Promise.reject(new DialError(`no port-forward session uses ${netnsPath}`));
    if (!entry.helper || !entry.helper.usable) {
      if (!existsSync(this.opts.helperScript)) {
        return Promise.reject(new DialError(`netns helper ${this.opts.helperScript} is missing (is crisp built?)`));
      }
      const helper = new NetnsHelper(netnsPath, this.opts, (h) => {
        if (entry.helper === h) entry.helper = undefined;
      });
      entry.helper = helper;
    }
    return entry.helper.dial(port);
  }

  private unref(netnsPath: string): void {
    const entry = this.entries.get(netnsPath);
    if (!entry) return;
    entry.refs--;
    if (entry.refs > 0) return;
    this.entries.delete(netnsPath);
    if (entry.helper) this.retire(entry.helper);
  }

  private retire(helper: NetnsHelper): Promise<void> {
    const stopped = helper.stop();
    this.stopping.add(stopped);
    void stopped.then(() => this.stopping.delete(stopped));
    return stopped;
  }

  /** See endNetnsDialers. */
  async endNamespace(netnsPath: string): Promise<void> {
    this.closedNamespaces.add(netnsPath);
    if (this.closedNamespaces.size > MAX_CLOSED_REMEMBERED) {
      const oldest = this.closedNamespaces.values().next().value as string;
      this.closedNamespaces.delete(oldest);
    }
    const helper = this.entries.get(netnsPath)?.helper;
    if (helper) await this.retire(helper);
  }

  /** pids of the running helpers, by namespace (tests, debugging). */
  helperPids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [ns, e] of this.entries) if (e.helper && e.helper.usable && e.helper.child.pid) out.set(ns, e.helper.child.pid);
    return out;
  }

  /** Ends every helper; later requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    pools.delete(this);
    const helpers = [...this.entries.values()].map((e) => e.helper).filter((h): h is NetnsHelper => h !== undefined);
    this.entries.clear();
    await Promise.all([...helpers.map((h) => this.retire(h)), ...this.stopping]);
  }
}

/**
 * Sockets come from net.Socket's constructor with allowHalfOpen off; port forwarding relays each
 * direction's end separately (a client's FIN must not cut the server's answer).
 */
function halfOpen(socket: Socket): Socket {
  socket.allowHalfOpen = true;
  return socket;
}
