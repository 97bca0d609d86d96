// An in-process OCI registry for the client tests: node:http on 127.0.0.1, port 0. It serves
// manifests and blobs, optionally behind Basic or Bearer auth (with its own /token realm),
// honours or ignores Range, redirects blobs to a second server, and lets a test hook any request.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Descriptor, Platform } from '../src';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Hook = (req: http.IncomingMessage, res: http.ServerResponse, recorded: RecordedRequest) => boolean | Promise<boolean>;

export type FakeAuth =
  | { kind: 'basic'; username: string; password: string }
  | {
      kind: 'bearer';
      /** Credentials the realm wants (Basic on GET); absent: anonymous tokens. */
      username?: string;
      password?: string;
      /** Refresh token accepted by POST grant_type=refresh_token. */
      refreshToken?: string;
      /** Tokens accepted as they are (a CRI registryToken). */
      staticTokens?: string[];
      /** Answer `access_token` instead of `token`. */
      accessTokenField?: boolean;
      expiresIn?: number;
    };

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message, detail: null }] });
}

/** Serves `data` for a GET with optional `Range: bytes=N-`. */
export function serveBytes(req: http.IncomingMessage, res: http.ServerResponse, data: Buffer, honourRange = true, extraHeaders: http.OutgoingHttpHeaders = {}): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range !== null && honourRange) {
    const start = Number(range[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${data.length}` });
      res.end();
      return;
    }
    res.writeHead(206, {
      ...extraHeaders,
      'Content-Type': 'application/octet-stream',
      'Content-Length': data.length - start,
      'Content-Range': `bytes ${start}-${data.length - 1}/${data.length}`,
    });
    res.end(req.method === 'HEAD' ? undefined : data.subarray(start));
    return;
  }
  res.writeHead(200, { ...extraHeaders, 'Content-Type': 'application/octet-stream', 'Content-Length': data.length });
  res.end(req.method === 'HEAD' ? undefined : data);
}

abstract class FakeServer {
  readonly server: http.Server;
  readonly requests: RecordedRequest[] = [];
  readonly hooks: Hook[] = [];
  readonly scheme: 'http' | 'https';
  port = 0;

  /** With `tls`, an HTTPS server (key/cert, and `ca` + `requestCert` to demand client certificates). */
  constructor(tls?: https.ServerOptions) {
    this.scheme = tls === undefined ? 'http' : 'https';
    const listener: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const u = new URL(req.url ?? '/', 'http://fake');
        const recorded: RecordedRequest = {
          method: req.method ?? 'GET',
          path: u.pathname,
          query: u.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(recorded);
        void this.dispatch(req, res, recorded).catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
      });
    };
    this.server = tls === undefined ? http.createServer(listener) : https.createServer(tls, listener);
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse, recorded: RecordedRequest): Promise<void> {
    for (const hook of this.hooks) if (await hook(req, res, recorded)) return;
    this.handle(req, res, recorded);
  }

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse, recorded: RecordedRequest): void;

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  get url(): string {
    return `${this.scheme}://${this.host}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests whose path matches. */
  matching(re: RegExp, method?: string): RecordedRequest[] {
    return this.requests.filter((r) => re.test(r.path) && (method === undefined || r.method === method));
  }

  /** The next `times` requests matching `re` get `status` (then normal service resumes). */
  failTimes(times: number, status: number, re = /./, headers: http.OutgoingHttpHeaders = {}): void {
    let left = times;
    this.hooks.push((_req, res, r) => {
      if (left <= 0 || !re.test(r.path)) return false;
      left--;
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(errorBody(status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE', `injected ${status}`));
      return true;
    });
  }

  /** The next `times` requests matching `re` have their connection reset. */
  resetTimes(times: number, re = /./): void {
    let left = times;
    this.hooks.push((req, _res, r) => {
      if (left <= 0 || !re.test(r.path)) return false;
      left--;
      req.socket.destroy();
      return true;
    });
  }
}

/** A plain blob store (think S3) a registry redirects to: GET /data/<digest>. */
export class FakeBlobStore extends FakeServer {
  readonly blobs = new Map<string, Buffer>();

  protected handle(req: http.IncomingMessage, res: http.ServerResponse, recorded: RecordedRequest): void {
    const m = /^\/data\/(sha256:[a-f0-9]{64})$/.exec(recorded.path);
    const data = m === null ? undefined : this.blobs.get(m[1]!);
    if (data === undefined || recorded.query.get('sig') !== 'ok') {
      res.writeHead(403);
      res.end('<Error>AccessDenied</Error>');
      return;
    }
    serveBytes(req, res, data);
  }
}

export class FakeRegistry extends FakeServer {
  /** repo → reference (tag or digest) → manifest. */
  readonly manifests = new Map<string, Map<string, { mediaType: string; body: Buffer }>>();
  readonly blobs = new Map<string, Buffer>();
  auth?: FakeAuth;
  /** Issued bearer tokens → the scopes they were issued for. */
  readonly tokens = new Map<string, string[]>();
  /** HEAD on manifests leaves Docker-Content-Digest out (GET is then needed). */
  omitDigestOnHead = false;
  /** Manifests are served as `application/json` instead of their media type. */
  genericContentType = false;
  honourRange = true;
  /** Blobs are answered with a 307 to this blob store. */
  redirectBlobsTo?: FakeBlobStore;
  /** Blob digests served with corrupted content (same length). */
  readonly corrupt = new Set<string>();
  private issued = 0;

  addBlob(data: Buffer | string, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip'): Descriptor {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const digest = sha256(buf);
    this.blobs.set(digest, buf);
    this.redirectBlobsTo?.blobs.set(digest, buf);
    return { mediaType, digest, size: buf.length };
  }

  addManifest(repo: string, tag: string | undefined, document: object, mediaType: string): Descriptor {
    const body = Buffer.from(JSON.stringify(document));
    const digest = sha256(body);
    let refs = this.manifests.get(repo);
    if (refs === undefined) this.manifests.set(repo, (refs = new Map()));
    refs.set(digest, { mediaType, body });
    if (tag !== undefined) refs.set(tag, { mediaType, body });
    return { mediaType, digest, size: body.length };
  }

  /** An image: config + layers + manifest. */
  addImage(repo: string, tag: string | undefined, layers: Array<Buffer | string>, config: object = { architecture: 'amd64', os: 'linux' }, docker = false) {
    const configDesc = this.addBlob(JSON.stringify(config), docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json');
    const layerDescs = layers.map((l) => this.addBlob(l, docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : undefined));
    const mediaType = docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
    const manifest = this.addManifest(repo, tag, { schemaVersion: 2, mediaType, config: configDesc, layers: layerDescs }, mediaType);
    return { manifest, config: configDesc, layers: layerDescs };
  }

  addIndex(repo: string, tag: string, entries: Array<{ descriptor: Descriptor; platform?: Platform }>, docker = false): Descriptor {
    const mediaType = docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
    const manifests = entries.map((e) => (e.platform === undefined ? e.descriptor : { ...e.descriptor, platform: e.platform }));
    return this.addManifest(repo, tag, { schemaVersion: 2, mediaType, manifests }, mediaType);
  }

  private challenge(res: http.ServerResponse, repo: string | undefined): void {
    const auth = this.auth!;
    const header =
      auth.kind === 'basic'
        ? 'Basic realm="fake-registry"'
        : `Bearer realm="${this.url}/token",service="fake-registry"${repo === undefined ? '' : `,scope="repository:${repo}:pull"`}`;
    res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': header });
    res.end(errorBody('UNAUTHORIZED', 'authentication required'));
  }

  private authorized(req: http.IncomingMessage, repo: string | undefined): boolean {
    const auth = this.auth;
    if (auth === undefined) return true;
    const given = req.headers.authorization ?? '';
    if (auth.kind === 'basic') return given === `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    if (!given.startsWith('Bearer ')) return false;
    const token = given.slice('Bearer '.length);
    if (auth.staticTokens?.includes(token)) return true;
    const scopes = this.tokens.get(token);
    return scopes !== undefined && (repo === undefined || scopes.includes(`repository:${repo}:pull`));
  }

  private token(req: http.IncomingMessage, res: http.ServerResponse, recorded: RecordedRequest): void {
    const auth = this.auth;
    if (auth?.kind !== 'bearer') {
      res.writeHead(404);
      res.end();
      return;
    }
    let scopes: string[];
    if (req.method === 'POST') {
      const form = new URLSearchParams(recorded.body);
      if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== auth.refreshToken) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'bad refresh token' }));
        return;
      }
      scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
    } else {
      if (auth.username !== undefined) {
        const want = `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
        if (req.headers.authorization !== want) {
          res.writeHead(401, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ details: 'incorrect username or password' }));
          return;
        }
      }
      scopes = recorded.query.getAll('scope');
    }
    const token = `tok-${++this.issued}`;
    this.tokens.set(token, scopes);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const field = auth.accessTokenField === true || req.method === 'POST' ? 'access_token' : 'token';
    res.end(JSON.stringify({ [field]: token, expires_in: auth.expiresIn ?? 300, issued_at: new Date().toISOString() }));
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse, recorded: RecordedRequest): void {
    if (recorded.path === '/token') {
      this.token(req, res, recorded);
      return;
    }
    if (recorded.path === '/v2/' || recorded.path === '/v2') {
      if (!this.authorized(req, undefined)) return this.challenge(res, undefined);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(recorded.path);
    if (m === null) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(errorBody('NOT_FOUND', 'no such route'));
      return;
    }
    const [, repo, kind, reference] = m as unknown as [string, string, string, string];
    if (!this.authorized(req, repo)) return this.challenge(res, repo);
    if (kind === 'manifests') {
      const manifest = this.manifests.get(repo)?.get(reference);
      if (manifest === undefined) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(req.method === 'HEAD' ? undefined : errorBody('MANIFEST_UNKNOWN', 'manifest unknown'));
        return;
      }
      const headers: http.OutgoingHttpHeaders = {
        'Content-Type': this.genericContentType ? 'application/json' : manifest.mediaType,
        'Content-Length': manifest.body.length,
      };
      if (!(this.omitDigestOnHead && req.method === 'HEAD')) headers['Docker-Content-Digest'] = sha256(manifest.body);
      res.writeHead(200, headers);
      res.end(req.method === 'HEAD' ? undefined : manifest.body);
      return;
    }
    const blob = this.blobs.get(reference);
    if (blob === undefined) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(errorBody('BLOB_UNKNOWN', 'blob unknown to registry'));
      return;
    }
    if (this.redirectBlobsTo !== undefined) {
      res.writeHead(307, { Location: `${this.redirectBlobsTo.url}/data/${reference}?sig=ok` });
      res.end();
      return;
    }
    let data = blob;
    if (this.corrupt.has(reference)) {
      data = Buffer.from(blob);
      data[0] = data[0]! ^ 0xff;
    }
    serveBytes(req, res, data, this.honourRange, { 'Docker-Content-Digest': reference });
  }
}

/** A logger that keeps what it is told. */
export function recordingLogger() {
  const entries: Array<{ level: string; obj: object; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    entries.push(msg === undefined ? { level, obj } : { level, obj, msg });
  };
  return { entries, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}
