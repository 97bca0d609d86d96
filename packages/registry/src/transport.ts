// HTTP plumbing over node:http/https: keep-alive agents per TLS configuration, one request with
// abort and idle-timeout handling, bounded body reads, and the classification of network errors.
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { rootCertificates } from 'node:tls';
import { abortErrorFrom, HostsConfigError, TooLargeError } from './errors';
import type { EndpointTls } from './hosts';

export interface AgentOptions {
  /** Sockets per origin (default 32). */
  maxSockets?: number;
}

/** Keep-alive agents: one for plain HTTP, one per distinct TLS configuration. */
export class AgentPool {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgents = new Map<string, Promise<https.Agent>>();
  private readonly maxSockets: number;

  constructor(options: AgentOptions = {}) {
    this.maxSockets = options.maxSockets ?? 32;
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: this.maxSockets, maxFreeSockets: 8, scheduling: 'lifo' });
  }

  async agentFor(protocol: string, tls: EndpointTls | undefined): Promise<http.Agent> {
    if (protocol === 'http:') return this.httpAgent;
    const settings = tls ?? { skipVerify: false, caFiles: [], clientCerts: [] };
    const key = JSON.stringify([settings.skipVerify, settings.caFiles, settings.clientCerts.map((c) => [c.cert, c.key ?? ''])]);
    let agent = this.httpsAgents.get(key);
    if (agent === undefined) {
      agent = this.createHttpsAgent(settings);
      this.httpsAgents.set(key, agent);
      agent.catch(() => this.httpsAgents.delete(key));
    }
    return agent;
  }

  private async createHttpsAgent(tls: EndpointTls): Promise<https.Agent> {
    const read = async (file: string, what: string): Promise<Buffer> => {
      try {
        return await readFile(file);
      } catch (err) {
        throw new HostsConfigError(file, `unable to read ${what}: ${(err as Error).message}`, { cause: err });
      }
    };
    const options: https.AgentOptions = {
      keepAlive: true,
      maxSockets: this.maxSockets,
      maxFreeSockets: 8,
      scheduling: 'lifo',
      rejectUnauthorized: !tls.skipVerify,
    };
    if (tls.caFiles.length > 0) {
      // Added to the system roots, as containerd does (Node's `ca` replaces them otherwise).
      const extra = await Promise.all(tls.caFiles.map((f) => read(f, 'CA certificate')));
      options.ca = [...rootCertificates, ...extra.map((b) => b.toString('utf8'))];
    }
    if (tls.clientCerts.length > 0) {
      const certs: Buffer[] = [];
      const keys: Buffer[] = [];
      for (const pair of tls.clientCerts) {
        const cert = await read(pair.cert, 'client certificate');
        certs.push(cert);
        keys.push(pair.key === undefined ? cert : await read(pair.key, 'client key'));
      }
      options.cert = certs;
      options.key = keys;
    }
    return new https.Agent(options);
  }

  destroy(): void {
    this.httpAgent.destroy();
    for (const agent of this.httpsAgents.values()) agent.then((a) => a.destroy(), () => undefined);
    this.httpsAgents.clear();
  }
}

export interface SendOptions {
  url: URL;
  method: string;
  headers: http.OutgoingHttpHeaders;
  body?: Buffer | string;
  agent: http.Agent;
  signal?: AbortSignal;
  /** Socket idle timeout in ms, while waiting for the response and while reading its body. */
  timeoutMs: number;
}

/** An error with the `code` of a network failure. */
export function networkError(code: string, message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(message);
  err.code = code;
  return err;
}

/**
 * Sends one request and resolves with the response head. The AbortSignal and the idle timeout
 * keep working while the body is read: they destroy the response with the error.
 */
export function send(options: SendOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(abortErrorFrom(signal));
      return;
    }
    const mod = options.url.protocol === 'https:' ? https : http;
    const req = mod.request(options.url, { method: options.method, headers: options.headers, agent: options.agent });
    let response: http.IncomingMessage | undefined;
    let settled = false;
    const fail = (err: Error): void => {
      if (response !== undefined) response.destroy(err);
      req.destroy(err);
    };
    const onAbort = (): void => fail(abortErrorFrom(signal));
    const cleanup = (): void => signal?.removeEventListener('abort', onAbort);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.setTimeout(options.timeoutMs);
    req.on('timeout', () => {
      // A consumer applying backpressure is not a stalled registry: wait for it, re-armed.
      if (response !== undefined && response.isPaused() && !response.destroyed) {
        req.socket?.setTimeout(options.timeoutMs);
        return;
      }
      fail(networkError('ETIMEDOUT', `${options.method} ${options.url.origin}: no data for ${options.timeoutMs}ms`));
    });
    req.on('error', (err) => {
      cleanup();
      if (!settled) {
        settled = true;
        reject(err);
      }
    });
    req.on('response', (res) => {
      response = res;
      settled = true;
      res.on('close', cleanup);
      resolve(res);
    });
    req.end(options.body);
  });
}

/** Reads a whole (small) body; more than `limit` bytes destroys the response and throws `tooLarge()`. */
export function readBody(
  res: http.IncomingMessage,
  limit: number,
  tooLarge: (size: number | undefined) => Error = (size) => new TooLargeError(limit, size),
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(res.headers['content-length']);
    if (res.headers['content-length'] !== undefined && Number.isFinite(declared) && declared > limit) {
      const err = tooLarge(declared);
      res.destroy();
      reject(err);
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    res.on('data', (chunk: Buffer) => {
      if (done) return;
      total += chunk.length;
      if (total > limit) {
        done = true;
        res.destroy();
        reject(tooLarge(undefined));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, total));
    });
    res.on('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
    res.on('close', () => {
      if (done) return;
      done = true;
      reject(networkError('ECONNRESET', 'the connection closed before the response body ended'));
    });
  });
}

/** Reads at most 64 KiB of an error body (destroying the response beyond that); never throws. */
export async function readErrorBody(res: http.IncomingMessage): Promise<string> {
  try {
    return (await readBody(res, 64 * 1024)).toString('utf8');
  } catch {
    return '';
  }
}

/** Discards a response body so that its socket goes back to the pool (or is closed if large). */
export function discard(res: http.IncomingMessage): void {
  const declared = Number(res.headers['content-length']);
  if (res.headers['content-length'] !== undefined && declared > 64 * 1024) {
    res.destroy();
    return;
  }
  res.on('error', () => undefined);
  res.resume();
}

/** The registry's own error text: `errors[].message` (or code) of its JSON body, else the text. */
export function registryErrorMessage(body: string): string | undefined {
  const text = body.trim();
  if (text === '') return undefined;
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'object' && json !== null) {
      const o = json as Record<string, unknown>;
      if (Array.isArray(o['errors'])) {
        const parts = (o['errors'] as unknown[])
          .map((e) => {
            if (typeof e !== 'object' || e === null) return undefined;
            const { code, message } = e as Record<string, unknown>;
            if (typeof message === 'string' && message !== '') return message;
            return typeof code === 'string' ? code : undefined;
          })
          .filter((m): m is string => m !== undefined);
        if (parts.length > 0) return parts.join('; ');
      }
      for (const key of ['details', 'error_description', 'message', 'error']) {
        if (typeof o[key] === 'string' && o[key] !== '') return o[key] as string;
      }
    }
  } catch {
    // not JSON
  }
  if (/^\s*</.test(text)) return undefined; // an HTML error page says nothing useful
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);

export function errorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Connection-level failures worth retrying (reset, refused, timeout, transient DNS). */
export function isRetryableNetworkError(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined && RETRYABLE_CODES.has(code)) return true;
  return err instanceof Error && /socket hang up/i.test(err.message);
}

/** A TLS handshake answered by something that does not speak TLS (a plain-HTTP server). */
export function isTlsProtocolError(err: unknown): boolean {
  const code = errorCode(err) ?? '';
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return true;
  return err instanceof Error && /wrong version number|packet length too long|http request/i.test(err.message);
}

/** `ECONNREFUSED connect ECONNREFUSED 127.0.0.1:5000` style text for messages. */
export function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = errorCode(err);
  return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
