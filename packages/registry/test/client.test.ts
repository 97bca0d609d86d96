import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortError,
  DigestMismatchError,
  ForbiddenError,
  MediaType,
  NoMatchingPlatformError,
  NotFoundError,
  RegistryClient,
  type RegistryClientOptions,
  RegistryError,
  RegistryUnavailableError,
  SizeMismatchError,
  TooLargeError,
  UnauthorizedError,
} from '../src';
import { FakeBlobStore, FakeRegistry, recordingLogger, sha256 } from './fake-registry';

let configDir: string;
let closers: Array<() => Promise<void> | void>;

beforeEach(async () => {
  configDir = await mkdtemp(join(tmpdir(), 'crisp-registry-'));
  closers = [];
});

afterEach(async () => {
  for (const close of closers.reverse()) await close();
  await rm(configDir, { recursive: true, force: true });
});

async function startRegistry(): Promise<FakeRegistry> {
  const r = await new FakeRegistry().start();
  closers.push(() => r.close());
  return r;
}

async function hostsToml(host: string, text: string): Promise<void> {
  await mkdir(join(configDir, host), { recursive: true });
  await writeFile(join(configDir, host, 'hosts.toml'), text);
}

/** A registry reached over plain HTTP through hosts.toml. */
async function plainRegistry(): Promise<FakeRegistry> {
  const r = await startRegistry();
  await hostsToml(r.host, `server = "http://${r.host}"\n`);
  return r;
}

function newClient(options: Partial<RegistryClientOptions> = {}) {
  const log = recordingLogger();
  const client = new RegistryClient({
    configDir,
    logger: log.logger,
    retry: { attempts: 3, initialDelayMs: 5, maxDelayMs: 20 },
    timeoutMs: 5000,
    ...options,
  });
  closers.push(() => client.close());
  return { client, log };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const LAYER = Buffer.from('layer one contents '.repeat(100));
const LAYER2 = Buffer.from('second layer');

describe('resolve and fetch', () => {
  it('resolves a tag with HEAD, then fetches manifest, config and layers', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('library/app', 'v1', [LAYER, LAYER2]);
    const { client } = newClient();
    const ref = `${reg.host}/library/app:v1`;

    const root = await client.resolve(ref);
    expect(root).toEqual(image.manifest);
    expect(reg.matching(/manifests/).map((r) => r.method)).toEqual(['HEAD']);
    const accept = reg.matching(/manifests/)[0]!.headers.accept!;
    for (const t of [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifest, MediaType.DockerManifestList]) {
      expect(accept).toContain(t);
    }

    const fetched = await client.fetchManifest(ref, root);
    expect(fetched.kind).toBe('manifest');
    expect(sha256(fetched.bytes)).toBe(root.digest);
    expect(fetched.endpoint).toBe(`http://${reg.host}/v2`);
    if (fetched.kind !== 'manifest') throw new Error('expected a manifest');
    expect(fetched.manifest.layers).toEqual(image.layers);

    const config = await client.fetchBlobBuffer(ref, fetched.manifest.config);
    expect(JSON.parse(config.toString())).toEqual({ architecture: 'amd64', os: 'linux' });
    const blob = await client.fetchBlob(ref, image.layers[0]!);
    expect(blob.offset).toBe(0);
    expect(blob.restarted).toBe(false);
    expect(await readAll(blob.stream)).toEqual(LAYER);
    // Upstream requests carry no `ns` parameter.
    expect(reg.requests.every((r) => !r.query.has('ns'))).toBe(true);
    expect(reg.requests.every((r) => r.headers['user-agent'] === 'crisp')).toBe(true);
  });

  it('falls back to GET when HEAD gives no digest, and does not GET the manifest twice', async () => {
    const reg = await plainRegistry();
    reg.omitDigestOnHead = true;
    const image = reg.addImage('x/y', 'latest', [LAYER]);
    const { client } = newClient();
    const root = await client.resolve(`${reg.host}/x/y`);
    expect(root).toEqual(image.manifest);
    expect(reg.matching(/manifests/).map((r) => r.method)).toEqual(['HEAD', 'GET']);
    await client.fetchManifest(`${reg.host}/x/y`, root);
    expect(reg.matching(/manifests/)).toHaveLength(2);
  });

  it('works out the media type when the registry answers application/json', async () => {
    const reg = await plainRegistry();
    reg.genericContentType = true;
    const image = reg.addImage('x/y', 'latest', [LAYER], undefined, true);
    const { client } = newClient();
    const root = await client.resolve(`${reg.host}/x/y`);
    expect(root).toEqual({ ...image.manifest, mediaType: MediaType.DockerManifest });
  });

  it('resolves digest references (the digest wins over the tag)', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('x/y', 'v1', [LAYER]);
    const { client } = newClient();
    expect(await client.resolve(`${reg.host}/x/y@${image.manifest.digest}`)).toEqual(image.manifest);
    expect(await client.resolve(`${reg.host}/x/y:nosuchtag@${image.manifest.digest}`)).toEqual(image.manifest);
    expect(reg.matching(/manifests/).map((r) => r.path)).toEqual([
      `/v2/x/y/manifests/${image.manifest.digest}`,
      `/v2/x/y/manifests/${image.manifest.digest}`,
    ]);
  });

  it('reports an unknown manifest as NotFoundError naming the reference', async () => {
    const reg = await plainRegistry();
    const { client } = newClient();
    const err = await client.resolve(`${reg.host}/x/missing:v9`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).reference).toBe(`${reg.host}/x/missing:v9`);
    expect((err as Error).message).toContain(`${reg.host}/x/missing:v9`);
    expect((err as NotFoundError).status).toBe(404);
    // 404 is not retried.
    expect(reg.matching(/manifests/)).toHaveLength(1);
  });

  it('verifies manifest digest and size', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('x/y', 'v1', [LAYER]);
    const { client } = newClient();
    reg.hooks.push((req, res, r) => {
      if (!r.path.endsWith(image.manifest.digest) || req.method !== 'GET') return false;
      const body = Buffer.alloc(image.manifest.size, 0x20);
      res.writeHead(200, { 'Content-Type': image.manifest.mediaType, 'Content-Length': body.length });
      res.end(body);
      return true;
    });
    await expect(client.fetchManifest(`${reg.host}/x/y`, image.manifest)).rejects.toBeInstanceOf(DigestMismatchError);
    await expect(client.fetchManifest(`${reg.host}/x/y`, { ...image.manifest, size: image.manifest.size - 1 })).rejects.toBeInstanceOf(
      SizeMismatchError,
    );
  });

  it('refuses manifests over the size limit', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('x/y', 'v1', [LAYER]);
    const { client } = newClient({ maxManifestSize: 64 });
    await expect(client.resolve(`${reg.host}/x/y:v1`)).rejects.toBeInstanceOf(TooLargeError);
    await expect(client.fetchManifest(`${reg.host}/x/y`, image.manifest)).rejects.toBeInstanceOf(TooLargeError);
    reg.omitDigestOnHead = true;
    await expect(client.resolve(`${reg.host}/x/y:v1`)).rejects.toBeInstanceOf(TooLargeError);
  });
});

describe('authentication', () => {
  it('gets an anonymous bearer token, caches it, and sends it up front afterwards', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer' };
    const image = reg.addImage('library/app', 'v1', [LAYER, LAYER2]);
    const { client } = newClient();
    const ref = `${reg.host}/library/app:v1`;
    const root = await client.resolve(ref);
    await client.fetchManifest(ref, root);
    for (const layer of image.layers) await readAll((await client.fetchBlob(ref, layer)).stream);

    const tokenRequests = reg.matching(/^\/token$/);
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]!.query.get('service')).toBe('fake-registry');
    expect(tokenRequests[0]!.query.getAll('scope')).toEqual(['repository:library/app:pull']);
    expect(tokenRequests[0]!.headers.authorization).toBeUndefined();
    // One 401 (the first HEAD); everything after that authenticated up front.
    const v2 = reg.matching(/^\/v2\//);
    expect(v2.filter((r) => r.headers.authorization === undefined)).toHaveLength(1);
    expect(v2.slice(1).every((r) => r.headers.authorization === 'Bearer tok-1')).toBe(true);
  });

  it('shares one token fetch between concurrent requests; one caller aborting does not fail the others', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer' };
    const image = reg.addImage('library/app', 'v1', [LAYER, LAYER2, 'three', 'four']);
    let releaseToken!: () => void;
    const tokenGate = new Promise<void>((resolve) => (releaseToken = resolve));
    reg.hooks.push(async (_req, _res, r) => {
      if (r.path === '/token') await tokenGate;
      return false;
    });
    const { client } = newClient();
    const ref = `${reg.host}/library/app:v1`;
    const quitter = new AbortController();
    const aborted = client.fetchBlob(ref, image.layers[0]!, { signal: quitter.signal }).catch((e: unknown) => e);
    const others = image.layers.map((layer) => client.fetchBlob(ref, layer).then((b) => readAll(b.stream)));
    await new Promise((resolve) => setTimeout(resolve, 50));
    quitter.abort();
    expect(await aborted).toBeInstanceOf(AbortError);
    releaseToken();
    const contents = await Promise.all(others);
    expect(contents[0]).toEqual(LAYER);
    expect(contents[3]!.toString()).toBe('four');
    expect(reg.matching(/^\/token$/)).toHaveLength(1);
  });

  it('sends username and password to the token realm', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer', username: 'alice', password: 's3cret', accessTokenField: true };
    const image = reg.addImage('private/app', 'v1', [LAYER]);
    const { client } = newClient();
    const ref = `${reg.host}/private/app:v1`;
    expect(await client.resolve(ref, { auth: { username: 'alice', password: 's3cret' } })).toEqual(image.manifest);
    const [tokenRequest] = reg.matching(/^\/token$/);
    expect(tokenRequest!.headers.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(tokenRequest!.query.get('account')).toBe('alice');
    // The same via the CRI `auth` field.
    const { client: other } = newClient();
    expect(await other.resolve(ref, { auth: { auth: Buffer.from('alice:s3cret').toString('base64') } })).toEqual(image.manifest);
  });

  it('fails with UnauthorizedError carrying the realm message on a wrong password', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer', username: 'alice', password: 's3cret' };
    reg.addImage('private/app', 'v1', [LAYER]);
    const { client } = newClient();
    const err = await client.resolve(`${reg.host}/private/app:v1`, { auth: { username: 'alice', password: 'wrong' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect((err as UnauthorizedError).registryMessage).toBe('incorrect username or password');
    expect((err as Error).message).toContain('incorrect username or password');
  });

  it('does not reuse a token fetched with credentials for an anonymous request', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer', username: 'alice', password: 's3cret' };
    reg.addImage('private/app', 'v1', [LAYER]);
    const { client } = newClient();
    const ref = `${reg.host}/private/app:v1`;
    await client.resolve(ref, { auth: { username: 'alice', password: 's3cret' } });
    await expect(client.resolve(ref)).rejects.toBeInstanceOf(UnauthorizedError);
    await client.resolve(ref, { auth: { username: 'alice', password: 's3cret' } });
    expect(reg.matching(/^\/token$/)).toHaveLength(2); // alice once (cached), anonymous once (refused)
  });

  it('exchanges an identity token with the OAuth2 refresh_token grant', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer', refreshToken: 'refresh-me' };
    const image = reg.addImage('private/app', 'v1', [LAYER]);
    const { client } = newClient();
    expect(await client.resolve(`${reg.host}/private/app:v1`, { auth: { identityToken: 'refresh-me' } })).toEqual(image.manifest);
    const [tokenRequest] = reg.matching(/^\/token$/);
    expect(tokenRequest!.method).toBe('POST');
    const form = new URLSearchParams(tokenRequest!.body);
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'refresh-me',
      client_id: 'crisp',
      service: 'fake-registry',
      scope: 'repository:private/app:pull',
    });
    await expect(client.resolve(`${reg.host}/private/app:v1`, { auth: { identityToken: 'nope' } })).rejects.toThrow(/bad refresh token/);
  });

  it('uses a registry token as the bearer token directly', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer', staticTokens: ['given-token'] };
    const image = reg.addImage('private/app', 'v1', [LAYER]);
    const { client } = newClient();
    expect(await client.resolve(`${reg.host}/private/app:v1`, { auth: { registryToken: 'given-token' } })).toEqual(image.manifest);
    expect(reg.matching(/^\/token$/)).toHaveLength(0);
    expect(reg.requests.at(-1)!.headers.authorization).toBe('Bearer given-token');
  });

  it('answers a Basic challenge with the credentials, and explains a 401 without them', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'basic', username: 'bob', password: 'pw' };
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    const ref = `${reg.host}/app:v1`;
    expect(await client.resolve(ref, { auth: { username: 'bob', password: 'pw' } })).toEqual(image.manifest);
    const blob = await client.fetchBlob(ref, image.layers[0]!, { auth: { username: 'bob', password: 'pw' } });
    expect(await readAll(blob.stream)).toEqual(LAYER);

    const { client: anonymous } = newClient();
    const err = await anonymous.fetchManifest(ref, image.manifest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect((err as UnauthorizedError).registryMessage).toBe('authentication required');
    expect((err as Error).message).toMatch(/no credentials given/);
    const wrong = await anonymous.resolve(ref, { auth: { username: 'bob', password: 'bad' } }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(UnauthorizedError);
  });

  it('gets a new token when the registry stops accepting the cached one', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer' };
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    const ref = `${reg.host}/app:v1`;
    await client.resolve(ref);
    reg.tokens.clear(); // revoke
    expect(await client.resolve(ref)).toEqual(image.manifest);
    expect(reg.matching(/^\/token$/)).toHaveLength(2);
  });

  it('refreshes tokens when they expire', async () => {
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer', expiresIn: 1 };
    reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    const ref = `${reg.host}/app:v1`;
    await client.resolve(ref);
    await client.resolve(ref);
    expect(reg.matching(/^\/token$/)).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await client.resolve(ref);
    expect(reg.matching(/^\/token$/)).toHaveLength(2);
  });

  it('maps 403 to ForbiddenError', async () => {
    const reg = await plainRegistry();
    reg.addImage('app', 'v1', [LAYER]);
    reg.failTimes(1, 403, /manifests/);
    const { client } = newClient();
    await expect(client.resolve(`${reg.host}/app:v1`)).rejects.toBeInstanceOf(ForbiddenError);
  });
});

describe('blobs', () => {
  it('follows a redirect to another host without the registry Authorization', async () => {
    const store = await new FakeBlobStore().start();
    closers.push(() => store.close());
    const reg = await plainRegistry();
    reg.auth = { kind: 'bearer' };
    reg.redirectBlobsTo = store;
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!);
    expect(await readAll(blob.stream)).toEqual(LAYER);
    const [storeRequest] = store.requests;
    expect(storeRequest!.headers.authorization).toBeUndefined();
    expect(storeRequest!.query.get('sig')).toBe('ok');
    expect(reg.matching(/blobs/).at(-1)!.headers.authorization).toMatch(/^Bearer /);
  });

  it('resumes with Range when the server honours it, verifying the whole digest with a pre-fed hash', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    const desc = image.layers[0]!;
    const hash = createHash('sha256').update(LAYER.subarray(0, 100));
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, desc, { offset: 100, hash });
    expect(blob.offset).toBe(100);
    expect(blob.restarted).toBe(false);
    expect(await readAll(blob.stream)).toEqual(LAYER.subarray(100));
    expect(reg.matching(/blobs/)[0]!.headers.range).toBe('bytes=100-');

    const wrongPrefix = createHash('sha256').update(Buffer.alloc(100));
    const bad = await client.fetchBlob(`${reg.host}/app:v1`, desc, { offset: 100, hash: wrongPrefix });
    await expect(readAll(bad.stream)).rejects.toBeInstanceOf(DigestMismatchError);
  });

  it('restarts from 0 and says so when the server ignores Range', async () => {
    const reg = await plainRegistry();
    reg.honourRange = false;
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client, log } = newClient();
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!, { offset: 100, hash: createHash('sha256') });
    expect(blob.offset).toBe(0);
    expect(blob.restarted).toBe(true);
    expect(await readAll(blob.stream)).toEqual(LAYER);
    expect(log.entries.some((e) => e.level === 'info' && /restarts from byte 0/.test(e.msg ?? ''))).toBe(true);
  });

  it('restarts from 0 on 416 and on a Content-Range from the wrong offset', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    const desc = image.layers[0]!;
    const { client } = newClient();
    reg.hooks.push((_req, res, r) => {
      if (!r.path.includes('/blobs/') || r.headers.range === undefined) return false;
      res.writeHead(416);
      res.end();
      return true;
    });
    let blob = await client.fetchBlob(`${reg.host}/app:v1`, desc, { offset: 5 });
    expect([blob.offset, blob.restarted]).toEqual([0, true]);
    expect(await readAll(blob.stream)).toEqual(LAYER);

    reg.hooks.length = 0;
    reg.hooks.push((_req, res, r) => {
      if (!r.path.includes('/blobs/') || r.headers.range === undefined) return false;
      res.writeHead(206, { 'Content-Range': `bytes 0-${LAYER.length - 1}/${LAYER.length}`, 'Content-Length': LAYER.length });
      res.end(LAYER);
      return true;
    });
    blob = await client.fetchBlob(`${reg.host}/app:v1`, desc, { offset: 5 });
    expect([blob.offset, blob.restarted]).toEqual([0, true]);
    expect(await readAll(blob.stream)).toEqual(LAYER);
  });

  it('has nothing to fetch when the offset is the size', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!, {
      offset: LAYER.length,
      hash: createHash('sha256').update(LAYER),
    });
    expect(await readAll(blob.stream)).toHaveLength(0);
    expect(reg.matching(/blobs/)).toHaveLength(0);
    await expect(client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!, { offset: LAYER.length + 1 })).rejects.toBeInstanceOf(RegistryError);
  });

  it('fails the stream with DigestMismatchError for wrong content', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    reg.corrupt.add(image.layers[0]!.digest);
    const { client } = newClient();
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!);
    const err = await readAll(blob.stream).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).expected).toBe(image.layers[0]!.digest);
    // Without verification the bytes come through as they are.
    const raw = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!, { verify: false });
    expect((await readAll(raw.stream)).length).toBe(LAYER.length);
  });

  it('rejects a Content-Length that does not match the descriptor before streaming', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    await expect(client.fetchBlob(`${reg.host}/app:v1`, { ...image.layers[0]!, size: LAYER.length + 10 })).rejects.toBeInstanceOf(
      SizeMismatchError,
    );
  });

  it('aborts mid-blob: the stream errors with AbortError and the connection is dropped', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    let serverSideClosed!: Promise<void>;
    reg.hooks.push((_req, res, r) => {
      if (!r.path.includes('/blobs/')) return false;
      serverSideClosed = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200, { 'Content-Length': LAYER.length });
      res.write(LAYER.subarray(0, 500)); // and then nothing more
      return true;
    });
    const { client } = newClient();
    const controller = new AbortController();
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!, { signal: controller.signal });
    const received: Buffer[] = [];
    const done = new Promise<unknown>((resolve) => {
      blob.stream.on('data', (chunk: Buffer) => {
        received.push(chunk);
        controller.abort();
      });
      blob.stream.on('error', resolve);
      blob.stream.on('end', () => resolve('ended'));
    });
    const err = await done;
    expect(err).toBeInstanceOf(AbortError);
    expect(Buffer.concat(received).length).toBeGreaterThan(0);
    await serverSideClosed;
  });

  it('rejects at once with AbortError when the signal is already aborted, or fires while waiting', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client } = newClient();
    await expect(client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
    reg.hooks.push((_req, _res, r) => r.path.includes('/manifests/')); // never answers
    const err = await client.resolve(`${reg.host}/app:v1`, { signal: AbortSignal.timeout(100) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
  });
});

describe('retries', () => {
  it('retries a 500 and then succeeds', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    reg.failTimes(1, 500, /manifests/);
    const { client } = newClient();
    expect(await client.resolve(`${reg.host}/app:v1`)).toEqual(image.manifest);
    expect(reg.matching(/manifests/)).toHaveLength(2);
  });

  it('retries 429 and connection resets', async () => {
    const reg = await plainRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    reg.failTimes(1, 429, /blobs/, { 'Retry-After': '0' });
    reg.resetTimes(1, /blobs/);
    const { client } = newClient();
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!);
    expect(await readAll(blob.stream)).toEqual(LAYER);
    expect(reg.matching(/blobs/)).toHaveLength(3);
  });

  it('gives up after the attempts with RegistryUnavailableError', async () => {
    const reg = await plainRegistry();
    reg.addImage('app', 'v1', [LAYER]);
    reg.failTimes(100, 503, /manifests/);
    const { client } = newClient();
    const err = await client.resolve(`${reg.host}/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnavailableError);
    expect((err as RegistryUnavailableError).status).toBe(503);
    expect((err as Error).message).toMatch(/after 3 attempts/);
    expect(reg.matching(/manifests/)).toHaveLength(3);
  });

  it('does not retry other 4xx', async () => {
    const reg = await plainRegistry();
    reg.addImage('app', 'v1', [LAYER]);
    reg.failTimes(100, 400, /manifests/);
    const { client } = newClient();
    const err = await client.resolve(`${reg.host}/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(400);
    expect(reg.matching(/manifests/)).toHaveLength(1);
  });

  it('retries connection refused when there is no other endpoint', async () => {
    const port = await deadPort();
    await hostsToml(`127.0.0.1:${port}`, `server = "http://127.0.0.1:${port}"`);
    const { client, log } = newClient();
    const err = await client.resolve(`127.0.0.1:${port}/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnavailableError);
    expect((err as Error).message).toMatch(/ECONNREFUSED.*after 3 attempts/);
    expect(log.entries.filter((e) => /retrying/.test(e.msg ?? ''))).toHaveLength(2);
  });
});

describe('endpoints', () => {
  it('falls back from a dead mirror to the upstream at once, and logs who served', async () => {
    const reg = await startRegistry();
    const image = reg.addImage('app', 'v1', [LAYER]);
    const port = await deadPort();
    await hostsToml(reg.host, `server = "http://${reg.host}"\n[host."http://127.0.0.1:${port}"]\n  capabilities = ["pull", "resolve"]\n`);
    const { client, log } = newClient();
    const started = Date.now();
    expect(await client.resolve(`${reg.host}/app:v1`)).toEqual(image.manifest);
    const blob = await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!);
    expect(await readAll(blob.stream)).toEqual(LAYER);
    expect(Date.now() - started).toBeLessThan(2000);
    const warned = log.entries.filter((e) => e.level === 'warn');
    expect(warned).toHaveLength(2);
    expect(warned[0]!.obj).toMatchObject({ endpoint: `http://127.0.0.1:${port}/v2` });
    const served = log.entries.filter((e) => e.msg === 'registry request served by a fallback endpoint');
    expect(served.map((e) => e.obj)).toEqual([
      expect.objectContaining({ endpoint: `http://${reg.host}/v2`, mirror: false, op: 'resolve' }),
      expect.objectContaining({ endpoint: `http://${reg.host}/v2`, op: `fetch blob ${image.layers[0]!.digest}` }),
    ]);
    // No retry of connection refused while another endpoint is left.
    expect(log.entries.filter((e) => /retrying/.test(e.msg ?? ''))).toHaveLength(0);
  });

  it('asks the mirror first (with ns=), uses the upstream when the mirror lacks the image', async () => {
    const upstream = await startRegistry();
    const mirror = await startRegistry();
    const image = upstream.addImage('app', 'v1', [LAYER]);
    mirror.addImage('cached', 'v1', [LAYER2]);
    await hostsToml(upstream.host, `server = "http://${upstream.host}"\n[host."http://${mirror.host}"]\n`);
    const { client } = newClient();
    expect(await client.resolve(`${upstream.host}/app:v1`)).toEqual(image.manifest);
    expect(mirror.matching(/manifests/)).toHaveLength(1);
    expect(mirror.requests[0]!.query.get('ns')).toBe(upstream.host);

    const cached = await client.resolveImage(`${upstream.host}/cached:v1`);
    expect(cached.manifest.endpoint).toBe(`http://${mirror.host}/v2`);
    expect(upstream.matching(/cached/)).toHaveLength(0);
  });

  it('skips mirrors without the capability', async () => {
    const upstream = await startRegistry();
    const mirror = await startRegistry();
    const image = upstream.addImage('app', 'v1', [LAYER]);
    mirror.addImage('app', 'v1', [LAYER]);
    await hostsToml(upstream.host, `server = "http://${upstream.host}"\n[host."http://${mirror.host}"]\n  capabilities = ["pull"]\n`);
    const { client } = newClient();
    const root = await client.resolve(`${upstream.host}/app:v1`); // a tag: needs "resolve"
    expect(mirror.requests).toHaveLength(0);
    await client.fetchManifest(`${upstream.host}/app:v1`, root); // by digest: "pull" is enough
    await readAll((await client.fetchBlob(`${upstream.host}/app:v1`, image.layers[0]!)).stream);
    expect(mirror.requests).toHaveLength(2);
  });

  it('reports the upstream answer when every endpoint fails, mentioning the others', async () => {
    const upstream = await startRegistry();
    const mirror = await startRegistry();
    mirror.failTimes(100, 500);
    await hostsToml(upstream.host, `server = "http://${upstream.host}"\n[host."http://${mirror.host}"]\n`);
    const { client } = newClient();
    const err = await client.resolve(`${upstream.host}/nope:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain(`also tried http://${mirror.host}/v2`);
  });

  it('tries HTTPS on a loopback registry without configuration, then plain HTTP, and remembers', async () => {
    const reg = await startRegistry(); // no hosts.toml
    const image = reg.addImage('app', 'v1', [LAYER]);
    const { client, log } = newClient();
    expect(await client.resolve(`${reg.host}/app:v1`)).toEqual(image.manifest);
    await readAll((await client.fetchBlob(`${reg.host}/app:v1`, image.layers[0]!)).stream);
    expect(log.entries.filter((e) => /does not speak TLS/.test(e.msg ?? ''))).toHaveLength(1);
  });

  it('sends configured headers', async () => {
    const reg = await startRegistry();
    reg.addImage('app', 'v1', [LAYER]);
    await hostsToml(reg.host, `server = "http://${reg.host}"\n[header]\n  x-tenant = "blue"\n`);
    const { client } = newClient();
    await client.resolve(`${reg.host}/app:v1`);
    expect(reg.requests[0]!.headers['x-tenant']).toBe('blue');
  });
});

describe('resolveImage', () => {
  async function multiArch(docker = false) {
    const reg = await plainRegistry();
    const amd = reg.addImage('multi', undefined, ['amd64 layer'], { architecture: 'amd64', os: 'linux' }, docker);
    const arm = reg.addImage('multi', undefined, ['arm64 layer'], { architecture: 'arm64', os: 'linux', variant: 'v8' }, docker);
    const arm7 = reg.addImage('multi', undefined, ['arm layer'], { architecture: 'arm', os: 'linux', variant: 'v7' }, docker);
    const index = reg.addIndex(
      'multi',
      'v1',
      [
        { descriptor: amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
        { descriptor: arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { descriptor: arm7.manifest, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
      ],
      docker,
    );
    return { reg, amd, arm, arm7, index };
  }

  it('picks the platform manifest from an OCI index', async () => {
    const { reg, arm, index } = await multiArch();
    const { client } = newClient();
    const image = await client.resolveImage(`${reg.host}/multi:v1`, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(image.root).toEqual(index);
    expect(image.manifests.map((m) => m.kind)).toEqual(['index', 'manifest']);
    expect(image.manifest.descriptor.digest).toBe(arm.manifest.digest);
    expect(image.manifest.descriptor.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(image.config.descriptor).toEqual(arm.config);
    expect(JSON.parse(image.config.bytes.toString())).toMatchObject({ architecture: 'arm64' });
    expect(image.reference.toString()).toBe(`${reg.host}/multi:v1`);
  });

  it('picks from a Docker manifest list, for this node by default', async () => {
    const { reg, amd, arm } = await multiArch(true);
    const { client } = newClient();
    const image = await client.resolveImage(`${reg.host}/multi:v1`);
    const want = process.arch === 'arm64' ? arm : amd;
    if (process.arch === 'x64' || process.arch === 'arm64') expect(image.manifest.descriptor.digest).toBe(want.manifest.digest);
    const armImage = await client.resolveImage(`${reg.host}/multi:v1`, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    expect(armImage.manifest.manifest.config.mediaType).toBe(MediaType.DockerConfig);
  });

  it('fails with NoMatchingPlatformError listing what is there', async () => {
    const { reg } = await multiArch();
    const { client } = newClient();
    const err = await client.resolveImage(`${reg.host}/multi:v1`, { platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoMatchingPlatformError);
    expect((err as Error).message).toBe(
      `no matching manifest for linux/s390x in the manifest list of ${reg.host}/multi:v1 (available: linux/amd64, linux/arm64/v8, linux/arm/v7)`,
    );
  });

  it('refuses artifacts that are not container images', async () => {
    const reg = await plainRegistry();
    const config = reg.addBlob('{}', 'application/vnd.cncf.helm.config.v1+json');
    reg.addManifest('chart', 'v1', { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [] }, MediaType.OciManifest);
    const { client } = newClient();
    await expect(client.resolveImage(`${reg.host}/chart:v1`)).rejects.toThrow(/not a container image/);
  });
});
