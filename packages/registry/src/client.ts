// The OCI distribution client: resolve a reference to its root descriptor, fetch manifests
// (bounded, verified) and stream blobs (resumable, verified), over the endpoints hosts.toml gives
// for the registry, with authentication, retries, redirects and AbortSignal support.
import type { Hash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import {
  type AuthConfig,
  Authenticator,
  type Credentials,
  credentialsApplyTo,
  credentialsFromAuthConfig,
  pullScope,
  type TokenRequest,
} from './auth';
import { computeDigest, digestAlgorithm, digestProblem, isDigest } from './digest';
import {
  AbortError,
  abortErrorFrom,
  DigestMismatchError,
  ForbiddenError,
  InvalidManifestError,
  isAbortError,
  NotFoundError,
  RegistryError,
  RegistryUnavailableError,
  SizeMismatchError,
  throwIfAborted,
  TooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from './errors';
import { type Capability, type EndpointTls, type HostsOptions, loadEndpoints, type RegistryEndpoint } from './hosts';
import { type Logger, silentLogger } from './logger';
import {
  baseMediaType,
  type Descriptor,
  detectManifestMediaType,
  type ImageIndex,
  type ImageManifest,
  isManifestMediaType,
  MANIFEST_ACCEPT,
  MediaType,
  parseManifest,
} from './manifest';
import { type Platform, selectPlatform } from './platform';
import { ImageReference, parseReference, sameRegistryHost } from './reference';
import {
  AgentPool,
  describeNetworkError,
  discard,
  errorCode,
  isRetryableNetworkError,
  isTlsProtocolError,
  readBody,
  readErrorBody,
  registryErrorMessage,
  send,
} from './transport';
import { verifyingStream } from './verify';

export interface RetryOptions {
  /** Attempts per request and endpoint, the first included (default 4). */
  attempts: number;
  /** Delay before the first retry, doubled for each further one (default 200 ms). */
  initialDelayMs: number;
  /** Upper bound of a delay, also for `Retry-After` (default 1600 ms). */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 4, initialDelayMs: 200, maxDelayMs: 1600 };
export const DEFAULT_MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
export const DEFAULT_MAX_CONFIG_SIZE = 16 * 1024 * 1024;

export interface RegistryClientOptions extends HostsOptions {
  /** Replaces hosts.toml lookup: the ordered endpoints for a reference domain. */
  endpoints?: (host: string) => Promise<RegistryEndpoint[]>;
  logger?: Logger;
  retry?: Partial<RetryOptions>;
  /** Largest manifest or index read into memory (default 4 MiB). */
  maxManifestSize?: number;
  /** Largest blob `fetchBlobBuffer` / `resolveImage` read into memory (default 16 MiB). */
  maxConfigSize?: number;
  /** Socket idle timeout: no byte for this long fails the request (default 60 s). */
  timeoutMs?: number;
  /** Redirects followed per request (default 5). */
  maxRedirects?: number;
  userAgent?: string;
  /** Sockets per origin (default 32). */
  maxSockets?: number;
}

export interface RequestOptions {
  /** Credentials of the CRI PullImageRequest. */
  auth?: AuthConfig;
  signal?: AbortSignal;
}

export interface FetchBlobOptions extends RequestOptions {
  /** Resume: ask for the blob from this byte on (`Range`). */
  offset?: number;
  /** Verify size and digest while streaming (default true). */
  verify?: boolean;
  /** When resuming: a hash fed with the first `offset` bytes, so the digest is verified too. */
  hash?: Hash;
}

export interface BlobResponse {
  /** The blob's bytes from `offset` on; errors with DigestMismatchError/SizeMismatchError/AbortError. */
  stream: Readable;
  /** Where `stream` starts: the requested offset, or 0 when the registry did not honour the Range. */
  offset: number;
  /** True when a resume was asked for but the blob restarts from byte 0 (discard what you have). */
  restarted: boolean;
  /** API root of the endpoint that served it (absent when nothing had to be fetched). */
  endpoint?: string;
}

export type FetchedManifest = {
  descriptor: Descriptor;
  /** The exact bytes, verified against the descriptor's digest and size. */
  bytes: Buffer;
  /** API root of the endpoint that served it (absent when it came from the resolve cache). */
  endpoint?: string;
} & ({ kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest });

export interface ResolvedImage {
  reference: ImageReference;
  /** What the reference points at (index/manifest list or manifest): its digest is the repo digest. */
  root: Descriptor;
  /** Every manifest read, root first, down to the platform's image manifest. */
  manifests: FetchedManifest[];
  /** The image manifest for the platform. */
  manifest: FetchedManifest & { kind: 'manifest' };
  /** The image config (its digest is the image ID). */
  config: { descriptor: Descriptor; bytes: Buffer };
}

export interface ResolveImageOptions extends RequestOptions {
  /** Default: this node's platform. */
  platform?: Platform;
}

interface Attempt {
  ref: ImageReference;
  endpoint: RegistryEndpoint;
  /** No endpoint left after this one (connection refused is then worth retrying). */
  last: boolean;
  creds: Credentials | undefined;
  signal: AbortSignal | undefined;
  scope: string;
}

interface Exchange {
  res: IncomingMessage;
  status: number;
  /** The URL that answered (after redirects). */
  url: URL;
  /** A redirect led to another origin (no registry auth there). */
  crossOrigin: boolean;
}

interface ExchangeRequest {
  url: URL;
  method: string;
  headers: OutgoingHttpHeaders;
  body?: string;
  tls?: EndpointTls;
  signal: AbortSignal | undefined;
  /** Retry ECONNREFUSED (false when another endpoint can be tried instead). */
  retryRefused: boolean;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers kept when a redirect leaves the registry's origin. */
const CROSS_ORIGIN_HEADERS = new Set(['accept', 'range', 'user-agent']);
const PLAIN_HTTP_MEMORY_MS = 10 * 60 * 1000;
const MANIFEST_CACHE_BYTES = 8 * 1024 * 1024;

function toReference(reference: ImageReference | string): ImageReference {
  return typeof reference === 'string' ? parseReference(reference) : reference;
}

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(res: IncomingMessage): number | undefined {
  const raw = header(res, 'content-length');
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  return Number(raw);
}

function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = value === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (m === null) return undefined;
  const range: { start: number; end: number; total?: number } = { start: Number(m[1]), end: Number(m[2]) };
  if (m[3] !== '*') range.total = Number(m[3]);
  return range;
}

function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const date = Date.parse(v);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortErrorFrom(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortErrorFrom(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    416: 'Range Not Satisfiable',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  return texts[status] === undefined ? `HTTP ${status}` : `${status} ${texts[status]}`;
}

/** Where a URL points without its query (presigned redirect URLs carry signatures there). */
function printable(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Chooses the error to report when every endpoint failed, mentioning the others. */
function chooseError(failures: Array<{ endpoint: RegistryEndpoint; error: unknown }>): unknown {
  const last = failures[failures.length - 1]!;
  const definitive = (e: unknown): boolean =>
    e instanceof NotFoundError || e instanceof UnauthorizedError || e instanceof ForbiddenError;
  const chosen =
    (definitive(last.error) ? last : undefined) ??
    failures.find((f) => !(f.error instanceof NotFoundError)) ??
    failures[0]!;
  const others = failures.filter((f) => f !== chosen);
  if (others.length > 0 && chosen.error instanceof Error) {
    const also = others.map((f) => `${f.endpoint.url}: ${f.error instanceof Error ? f.error.message : String(f.error)}`);
    chosen.error.message += ` (also tried ${also.join('; ')})`;
  }
  return chosen.error;
}

export class RegistryClient {
  private readonly logger: Logger;
  private readonly retry: RetryOptions;
  private readonly maxManifestSize: number;
  private readonly maxConfigSize: number;
  private readonly timeoutMs: number;
  private readonly maxRedirects: number;
  private readonly userAgent: string;
  private readonly agents: AgentPool;
  private readonly auth: Authenticator;
  /** Loopback HTTPS endpoints found to speak plain HTTP: host → until when that is believed. */
  private readonly plainHttp = new Map<string, number>();
  /** Manifests read by `resolve`'s GET fallback, so `fetchManifest` need not read them again. */
  private readonly manifestCache = new Map<string, Buffer>();
  private manifestCacheBytes = 0;

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!(this.retry.attempts >= 1)) this.retry.attempts = 1;
    this.maxManifestSize = options.maxManifestSize ?? DEFAULT_MAX_MANIFEST_SIZE;
    this.maxConfigSize = options.maxConfigSize ?? DEFAULT_MAX_CONFIG_SIZE;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxRedirects = options.maxRedirects ?? 5;
    this.userAgent = options.userAgent ?? 'crisp';
    this.agents = new AgentPool(options.maxSockets === undefined ? {} : { maxSockets: options.maxSockets });
    this.auth = new Authenticator((request) => this.tokenRequest(request), { logger: this.logger });
  }

  /** The ordered endpoints (mirrors, then upstream) for a reference domain. */
  endpointsFor(domain: string): Promise<RegistryEndpoint[]> {
    if (this.options.endpoints !== undefined) return this.options.endpoints(domain);
    const hosts: HostsOptions = {};
    if (this.options.configDir !== undefined) hosts.configDir = this.options.configDir;
    if (this.options.localhostHttpFallback !== undefined) hosts.localhostHttpFallback = this.options.localhostHttpFallback;
    return loadEndpoints(domain, hosts);
  }

  /**
   * The root descriptor of a reference (what its tag or digest names): HEAD on the manifest with
   * the four manifest/index media types accepted, falling back to GET (and hashing the body)
   * when HEAD does not give digest, size and type.
   */
  async resolve(reference: ImageReference | string, options: RequestOptions = {}): Promise<Descriptor> {
    const ref = toReference(reference);
    return this.withEndpoints(ref, ref.digest !== undefined ? 'pull' : 'resolve', options, 'resolve', (a) => this.resolveAt(a));
  }

  /** A manifest or index by descriptor: bounded, verified against digest and size, parsed. */
  async fetchManifest(reference: ImageReference | string, descriptor: Descriptor, options: RequestOptions = {}): Promise<FetchedManifest> {
    const ref = toReference(reference);
    const what = `manifest ${descriptor.digest}`;
    const problem = digestProblem(descriptor.digest);
    if (problem !== undefined) throw new RegistryError(`fetch ${what} of ${ref}: ${problem}`);
    if (descriptor.size > this.maxManifestSize) throw new TooLargeError(this.maxManifestSize, descriptor.size, what);
    const known = descriptor.size >= 0;
    let bytes = this.manifestCache.get(descriptor.digest);
    let endpoint: string | undefined;
    let contentType: string | undefined;
    if (bytes === undefined || (known && bytes.length !== descriptor.size)) {
      ({ bytes, endpoint, contentType } = await this.withEndpoints(ref, 'pull', options, `fetch ${what}`, async (a) => {
        const accept =
          descriptor.mediaType && !MANIFEST_ACCEPT.includes(descriptor.mediaType) ? `${descriptor.mediaType}, ${MANIFEST_ACCEPT}` : MANIFEST_ACCEPT;
        const ex = await this.request(a, 'GET', `/${ref.path}/manifests/${descriptor.digest}`, { Accept: accept }, (s) => s === 200);
        const limit = known ? descriptor.size : this.maxManifestSize;
        const body = await readBody(ex.res, limit, (size) =>
          known ? new SizeMismatchError(descriptor.size, size ?? limit + 1, what, size === undefined) : new TooLargeError(limit, size, what),
        );
        if (known && body.length !== descriptor.size) throw new SizeMismatchError(descriptor.size, body.length, what);
        const digest = computeDigest(body, digestAlgorithm(descriptor.digest));
        if (digest !== descriptor.digest) throw new DigestMismatchError(descriptor.digest, digest, what);
        return { bytes: body, endpoint: a.endpoint.url, contentType: header(ex.res, 'content-type') };
      }));
    }
    const mediaType = descriptor.mediaType || detectManifestMediaType(contentType, bytes);
    const parsed = parseManifest(bytes, mediaType);
    const fetched = { descriptor: { ...descriptor, mediaType, size: bytes.length }, bytes, ...parsed } as FetchedManifest;
    if (endpoint !== undefined) fetched.endpoint = endpoint;
    return fetched;
  }

  /**
   * A blob as a stream, never buffered. With `offset`, asks for the rest only (`Range`) and
   * checks the server honoured it (206 from that offset); if it did not, the stream is the whole
   * blob and `restarted` says so. Redirects (to object storage, say) are followed without the
   * registry's Authorization. The stream verifies size and digest unless `verify: false`.
   */
  async fetchBlob(reference: ImageReference | string, descriptor: Descriptor, options: FetchBlobOptions = {}): Promise<BlobResponse> {
    const ref = toReference(reference);
    const problem = digestProblem(descriptor.digest);
    if (problem !== undefined) throw new RegistryError(`fetch blob of ${ref}: ${problem}`);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0 || (descriptor.size >= 0 && offset > descriptor.size)) {
      throw new RegistryError(`fetch blob ${descriptor.digest}: invalid offset ${offset} for a blob of ${descriptor.size} bytes`);
    }
    throwIfAborted(options.signal);
    if (offset > 0 && offset === descriptor.size) {
      // Everything is there already: nothing to fetch, but still verify what the caller hashed.
      const stream = this.blobStream(descriptor, offset, false, options);
      stream.end();
      return { stream, offset, restarted: false };
    }
    return this.withEndpoints(ref, 'pull', options, `fetch blob ${descriptor.digest}`, (a) => this.fetchBlobAt(a, descriptor, offset, options));
  }

  /** A small blob (an image config) read into memory, verified; larger than `maxSize` is TooLargeError. */
  async fetchBlobBuffer(
    reference: ImageReference | string,
    descriptor: Descriptor,
    options: RequestOptions & { maxSize?: number } = {},
  ): Promise<Buffer> {
    const ref = toReference(reference);
    const limit = options.maxSize ?? this.maxConfigSize;
    const what = `blob ${descriptor.digest}`;
    if (descriptor.size > limit) throw new TooLargeError(limit, descriptor.size, what);
    const problem = digestProblem(descriptor.digest);
    if (problem !== undefined) throw new RegistryError(`fetch blob of ${ref}: ${problem}`);
    return this.withEndpoints(ref, 'pull', options, `fetch ${what}`, async (a) => {
      const { stream } = await this.fetchBlobAt(a, descriptor, 0, options);
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > limit) {
          stream.destroy();
          throw new TooLargeError(limit, undefined, what);
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks, total);
    });
  }

  /**
   * Resolves a reference down to the image for a platform: root descriptor, manifests (choosing
   * the platform's entry of an index), and the image config.
   */
  async resolveImage(reference: ImageReference | string, options: ResolveImageOptions = {}): Promise<ResolvedImage> {
    const ref = toReference(reference);
    const root = await this.resolve(ref, options);
    const manifests: FetchedManifest[] = [];
    let descriptor = root;
    for (let depth = 0; depth < 4; depth++) {
      const fetched = await this.fetchManifest(ref, descriptor, options);
      manifests.push(fetched);
      if (fetched.kind === 'manifest') {
        const config = fetched.manifest.config;
        if (config.mediaType !== MediaType.OciConfig && config.mediaType !== MediaType.DockerConfig) {
          throw new UnsupportedMediaTypeError(config.mediaType, `image config of ${ref} (not a container image?)`);
        }
        const bytes = await this.fetchBlobBuffer(ref, config, options);
        return { reference: ref, root, manifests, manifest: fetched, config: { descriptor: config, bytes } };
      }
      descriptor = selectPlatform(fetched.index, options.platform, `the manifest list of ${ref}`);
      this.logger.debug({ ref: ref.toString(), manifest: descriptor.digest, platform: descriptor.platform }, 'selected platform manifest');
    }
    throw new InvalidManifestError(`${ref}: image indexes are nested too deeply`);
  }

  /** Closes idle keep-alive sockets; the client should not be used afterwards. */
  close(): void {
    this.agents.destroy();
    this.manifestCache.clear();
    this.manifestCacheBytes = 0;
  }

  // --- per endpoint -------------------------------------------------------------------------

  private async withEndpoints<T>(
    ref: ImageReference,
    capability: Capability,
    options: RequestOptions,
    what: string,
    fn: (attempt: Attempt) => Promise<T>,
  ): Promise<T> {
    throwIfAborted(options.signal);
    const creds = credentialsFromAuthConfig(options.auth);
    const endpoints = (await this.endpointsFor(ref.domain)).filter((e) => e.capabilities.includes(capability));
    if (endpoints.length === 0) {
      throw new RegistryError(`${what} ${ref}: no endpoint configured for ${ref.domain} has the "${capability}" capability`);
    }
    const scope = pullScope(ref.path);
    const failures: Array<{ endpoint: RegistryEndpoint; error: unknown }> = [];
    for (let i = 0; i < endpoints.length; i++) {
      const endpoint = endpoints[i]!;
      const last = i === endpoints.length - 1;
      const attempt: Attempt = {
        ref,
        endpoint,
        last,
        creds: credentialsApplyTo(options.auth, endpoint.host) ? creds : undefined,
        signal: options.signal,
        scope,
      };
      try {
        const result = await fn(attempt);
        const fields = { ref: ref.toString(), op: what, endpoint: endpoint.url, mirror: endpoint.mirror };
        if (i > 0) this.logger.info(fields, 'registry request served by a fallback endpoint');
        else this.logger.debug(fields, 'registry request served');
        return result;
      } catch (err) {
        if (isAbortError(err)) throw err instanceof AbortError ? err : abortErrorFrom(options.signal);
        failures.push({ endpoint, error: err });
        if (!last) {
          this.logger.warn(
            { ref: ref.toString(), op: what, endpoint: endpoint.url, err: err instanceof Error ? err.message : String(err) },
            'registry endpoint failed, trying the next one',
          );
        }
      }
    }
    throw chooseError(failures);
  }

  private async resolveAt(a: Attempt): Promise<Descriptor> {
    const { ref } = a;
    const apiPath = `/${ref.path}/manifests/${ref.object}`;
    const headers = { Accept: MANIFEST_ACCEPT };
    const head = await this.request(a, 'HEAD', apiPath, headers, (s) => (s >= 200 && s < 300) || s === 405);
    discard(head.res);
    if (head.status >= 200 && head.status < 300) {
      const mediaType = baseMediaType(header(head.res, 'content-type'));
      const size = contentLength(head.res);
      const headerDigest = header(head.res, 'docker-content-digest');
      let digest = ref.digest;
      if (headerDigest !== undefined && isDigest(headerDigest)) {
        if (digest === undefined) digest = headerDigest;
        else if (headerDigest !== digest) digest = undefined; // settle it by hashing the body
      }
      if (digest !== undefined && size !== undefined && size > 0 && isManifestMediaType(mediaType)) {
        if (size > this.maxManifestSize) throw new TooLargeError(this.maxManifestSize, size, `manifest ${ref}`);
        return { mediaType, digest, size };
      }
      this.logger.debug(
        { ref: ref.toString(), endpoint: a.endpoint.url, mediaType, size, digest: headerDigest },
        'HEAD did not give digest, size and manifest type: fetching the manifest',
      );
    }
    const got = await this.request(a, 'GET', apiPath, headers, (s) => s === 200);
    const body = await readBody(got.res, this.maxManifestSize, (size) => new TooLargeError(this.maxManifestSize, size, `manifest ${ref}`));
    const digest = computeDigest(body, ref.digest !== undefined ? digestAlgorithm(ref.digest) : 'sha256');
    if (ref.digest !== undefined && digest !== ref.digest) throw new DigestMismatchError(ref.digest, digest, `manifest ${ref}`);
    const headerDigest = header(got.res, 'docker-content-digest');
    if (headerDigest !== undefined && headerDigest !== digest) {
      this.logger.warn({ ref: ref.toString(), header: headerDigest, computed: digest }, 'Docker-Content-Digest differs from the manifest body: using the body');
    }
    const mediaType = detectManifestMediaType(header(got.res, 'content-type'), body);
    if (!isManifestMediaType(mediaType)) {
      throw new UnsupportedMediaTypeError(
        mediaType,
        mediaType.startsWith('application/vnd.docker.distribution.manifest.v1') ? 'manifest (Docker schema 1 is not supported)' : 'manifest',
      );
    }
    this.rememberManifest(digest, body);
    return { mediaType, digest, size: body.length };
  }

  private async fetchBlobAt(a: Attempt, descriptor: Descriptor, offset: number, options: FetchBlobOptions): Promise<BlobResponse> {
    const apiPath = `/${a.ref.path}/blobs/${descriptor.digest}`;
    const what = `blob ${descriptor.digest}`;
    let start = offset;
    let restarted = false;
    let ex = await this.request(a, 'GET', apiPath, start > 0 ? { Range: `bytes=${start}-` } : {}, (s) =>
      start > 0 ? s === 200 || s === 206 || s === 416 : s === 200,
    );
    if (start > 0) {
      let again = false;
      if (ex.status === 206) {
        const range = parseContentRange(header(ex.res, 'content-range'));
        const total = descriptor.size >= 0 ? descriptor.size : undefined;
        if (range === undefined || range.start !== start || (total !== undefined && range.total !== undefined && range.total !== total)) {
          this.logger.warn({ blob: descriptor.digest, asked: start, contentRange: header(ex.res, 'content-range') }, 'registry answered a different range');
          ex.res.destroy();
          again = true;
        }
      } else if (ex.status === 416) {
        discard(ex.res);
        again = true;
      } else {
        restarted = true; // 200: the whole blob comes
      }
      if (again) {
        ex = await this.request(a, 'GET', apiPath, {}, (s) => s === 200);
        restarted = true;
      }
      if (restarted) {
        this.logger.info({ blob: descriptor.digest, asked: start, endpoint: a.endpoint.url }, 'registry did not resume the blob: it restarts from byte 0');
        start = 0;
      }
    }
    const length = contentLength(ex.res);
    if (length !== undefined && descriptor.size >= 0 && start + length !== descriptor.size) {
      ex.res.destroy();
      throw new SizeMismatchError(descriptor.size, start + length, `${what} (Content-Length)`);
    }
    const stream = this.blobStream(descriptor, start, restarted, options);
    pipeline(ex.res, stream, () => undefined);
    return { stream, offset: start, restarted, endpoint: a.endpoint.url };
  }

  private blobStream(descriptor: Descriptor, start: number, restarted: boolean, options: FetchBlobOptions): PassThrough {
    if (options.verify === false) return new PassThrough();
    const verifyOptions: { offset: number; hash?: Hash; what: string } = { offset: start, what: `blob ${descriptor.digest}` };
    if (!restarted && start > 0 && options.hash !== undefined) verifyOptions.hash = options.hash;
    return verifyingStream(descriptor.digest, descriptor.size >= 0 ? descriptor.size : undefined, verifyOptions);
  }

  // --- requests -----------------------------------------------------------------------------

  private baseUrl(endpoint: RegistryEndpoint): string {
    if (endpoint.plainHttpFallback && endpoint.scheme === 'https') {
      const until = this.plainHttp.get(endpoint.host);
      if (until !== undefined && until > Date.now()) return `http://${endpoint.host}${endpoint.path}`;
    }
    return endpoint.url;
  }

  /** A registry API request on one endpoint: auth (with one challenge round), retries, redirects. */
  private async request(
    a: Attempt,
    method: 'GET' | 'HEAD',
    apiPath: string,
    extraHeaders: Record<string, string>,
    accept: (status: number) => boolean,
  ): Promise<Exchange> {
    for (;;) {
      const base = this.baseUrl(a.endpoint);
      try {
        return await this.requestAt(a, base, method, apiPath, extraHeaders, accept);
      } catch (err) {
        if (
          a.endpoint.plainHttpFallback &&
          base.startsWith('https:') &&
          err instanceof RegistryUnavailableError &&
          isTlsProtocolError(err.cause)
        ) {
          this.plainHttp.set(a.endpoint.host, Date.now() + PLAIN_HTTP_MEMORY_MS);
          this.logger.info({ host: a.endpoint.host }, 'loopback registry does not speak TLS: using plain HTTP');
          continue;
        }
        throw err;
      }
    }
  }

  private async requestAt(
    a: Attempt,
    base: string,
    method: 'GET' | 'HEAD',
    apiPath: string,
    extraHeaders: Record<string, string>,
    accept: (status: number) => boolean,
  ): Promise<Exchange> {
    const url = new URL(base + apiPath);
    // Mirrors serving several registries learn which one is meant (containerd's `ns` parameter).
    if (!sameRegistryHost(a.endpoint.host, a.ref.domain)) url.searchParams.set('ns', a.ref.domain);
    let authorization = await this.auth.authorize(url.origin, a.scope, a.creds, a.signal, a.endpoint.tls);
    let challenged = false;
    for (;;) {
      const headers: OutgoingHttpHeaders = { ...a.endpoint.headers, 'User-Agent': this.userAgent, ...extraHeaders };
      if (authorization !== undefined) headers['Authorization'] = authorization;
      const ex = await this.exchange({ url, method, headers, tls: a.endpoint.tls, signal: a.signal, retryRefused: a.last });
      if (accept(ex.status)) return ex;
      if (ex.status === 401 && !ex.crossOrigin && !challenged) {
        const wwwAuthenticate = ex.res.headers['www-authenticate'];
        const body = await readErrorBody(ex.res);
        const next = await this.auth.challenge(url.origin, wwwAuthenticate, a.scope, a.creds, a.signal, authorization, a.endpoint.tls);
        if (next !== undefined && next !== authorization) {
          authorization = next;
          challenged = true;
          continue;
        }
        throw this.statusError(a, method, ex, body, authorization !== undefined);
      }
      const body = method === 'HEAD' ? '' : await readErrorBody(ex.res);
      if (method === 'HEAD') discard(ex.res);
      throw this.statusError(a, method, ex, body, authorization !== undefined);
    }
  }

  private statusError(a: Attempt, method: string, ex: Exchange, body: string, authenticated: boolean): RegistryError {
    const detail = registryErrorMessage(body);
    const where = `${method} ${printable(ex.url)}`;
    const text = `${statusText(ex.status)}${detail !== undefined ? `: ${detail}` : ''}`;
    const base = { status: ex.status, endpoint: a.endpoint.url };
    const withDetail = detail === undefined ? base : { ...base, registryMessage: detail };
    switch (ex.status) {
      case 401: {
        const hint = authenticated
          ? ''
          : a.creds === undefined
            ? ' (no credentials given: the repository may be private or not exist)'
            : ' (the registry did not offer a way to use the credentials given)';
        return new UnauthorizedError(`${a.ref}: ${where}: ${text}${hint}`, withDetail);
      }
      case 403:
        return new ForbiddenError(`${a.ref}: ${where}: ${text}`, withDetail);
      case 404:
        return new NotFoundError(`${a.ref}: ${where}: ${text}`, { ...base, reference: a.ref.toString() });
      default:
        if (ex.status === 429 || ex.status >= 500) {
          return new RegistryUnavailableError(`${a.ref}: ${where}: ${text} (after ${this.retry.attempts} attempts)`, base);
        }
        return new RegistryError(`${a.ref}: ${where}: unexpected ${text}`, base);
    }
  }

  /** The token realm exchange for the Authenticator, with the same retries. */
  private async tokenRequest(request: TokenRequest): Promise<{ status: number; body: Buffer }> {
    const exchange: ExchangeRequest = {
      url: request.url,
      method: request.method,
      headers: { ...request.headers, 'User-Agent': this.userAgent, Accept: 'application/json' },
      signal: undefined,
      retryRefused: true,
    };
    if (request.tls !== undefined) exchange.tls = request.tls;
    if (request.body !== undefined) exchange.body = request.body;
    const ex = await this.exchange(exchange);
    const body = await readBody(ex.res, 1024 * 1024, (size) => new TooLargeError(1024 * 1024, size, 'token response'));
    return { status: ex.status, body };
  }

  private backoff(attempt: number): number {
    const base = Math.min(this.retry.initialDelayMs * 2 ** (attempt - 1), this.retry.maxDelayMs);
    return Math.round(base * (0.8 + Math.random() * 0.2));
  }

  /** One request with retries (network errors, 429, 5xx) and redirects. Returns any other status. */
  private async exchange(x: ExchangeRequest): Promise<Exchange> {
    for (let attempt = 1; ; attempt++) {
      let ex: Exchange;
      try {
        ex = await this.sendFollowingRedirects(x);
      } catch (err) {
        if (isAbortError(err)) throw err instanceof AbortError ? err : abortErrorFrom(x.signal);
        if (err instanceof RegistryError) throw err;
        const retryable = isRetryableNetworkError(err) && (x.retryRefused || errorCode(err) !== 'ECONNREFUSED');
        if (retryable && attempt < this.retry.attempts) {
          const delay = this.backoff(attempt);
          this.logger.debug({ url: printable(x.url), attempt, delay, err: describeNetworkError(err) }, 'registry request failed, retrying');
          await sleep(delay, x.signal);
          continue;
        }
        throw new RegistryUnavailableError(
          `${x.method} ${printable(x.url)}: ${describeNetworkError(err)}${attempt > 1 ? ` (after ${attempt} attempts)` : ''}`,
          { cause: err },
        );
      }
      if ((ex.status === 429 || ex.status >= 500) && attempt < this.retry.attempts) {
        const retryAfter = parseRetryAfter(ex.res.headers['retry-after']);
        discard(ex.res);
        const delay = Math.min(Math.max(this.backoff(attempt), retryAfter ?? 0), this.retry.maxDelayMs);
        this.logger.debug({ url: printable(x.url), status: ex.status, attempt, delay }, 'registry answered with a retryable status, retrying');
        await sleep(delay, x.signal);
        continue;
      }
      return ex;
    }
  }

  private async sendFollowingRedirects(x: ExchangeRequest): Promise<Exchange> {
    let url = x.url;
    let method = x.method;
    let headers: OutgoingHttpHeaders = x.headers;
    let crossOrigin = false;
    for (let hop = 0; ; hop++) {
      const agent = await this.agents.agentFor(url.protocol, x.tls);
      const sendOptions: Parameters<typeof send>[0] = { url, method, headers, agent, timeoutMs: this.timeoutMs };
      if (x.signal !== undefined) sendOptions.signal = x.signal;
      if (hop === 0 && x.body !== undefined) sendOptions.body = x.body;
      const res = await send(sendOptions);
      const status = res.statusCode ?? 0;
      const location = header(res, 'location');
      if (!REDIRECT_STATUSES.has(status) || location === undefined || (method !== 'GET' && method !== 'HEAD')) {
        return { res, status, url, crossOrigin };
      }
      discard(res);
      if (hop >= this.maxRedirects) throw new RegistryError(`${x.method} ${printable(x.url)}: more than ${this.maxRedirects} redirects`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new RegistryError(`${x.method} ${printable(url)}: invalid redirect location`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new RegistryError(`${x.method} ${printable(url)}: redirect to unsupported scheme ${next.protocol}`);
      }
      if (next.origin !== x.url.origin && !crossOrigin) {
        // Leaving the registry: its Authorization (and configured headers) stay behind.
        crossOrigin = true;
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => CROSS_ORIGIN_HEADERS.has(k.toLowerCase())));
      }
      this.logger.debug({ from: printable(url), to: printable(next), status }, 'following registry redirect');
      url = next;
    }
  }

  private rememberManifest(digest: string, bytes: Buffer): void {
    if (bytes.length > MANIFEST_CACHE_BYTES / 4) return;
    const previous = this.manifestCache.get(digest);
    if (previous !== undefined) {
      this.manifestCache.delete(digest);
      this.manifestCacheBytes -= previous.length;
    }
    this.manifestCache.set(digest, bytes);
    this.manifestCacheBytes += bytes.length;
    while (this.manifestCacheBytes > MANIFEST_CACHE_BYTES) {
      const [oldest, old] = this.manifestCache.entries().next().value as [string, Buffer];
      this.manifestCache.delete(oldest);
      this.manifestCacheBytes -= old.length;
    }
  }
}
