// Against the real registry (Debian's docker-registry, distribution 2.8), when installed: it runs
// on a free loopback port with a temporary filesystem store; the test pushes a tiny image over
// plain HTTP, then pulls it through the client configured by a hosts.toml `server = "http://…"`.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Descriptor, MediaType, NotFoundError, RegistryClient } from '../src';

const BINARY = '/usr/bin/docker-registry';
const maybe = existsSync(BINARY) ? describe : describe.skip;

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function call(
  method: string,
  url: string,
  body?: Buffer,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, 'Content-Length': body?.length ?? 0 } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

maybe('against docker-registry (distribution 2.8)', () => {
  let dir: string;
  let child: ChildProcess;
  let base: string;
  let host: string;
  let client: RegistryClient;
  let stderr = '';

  async function pushBlob(repo: string, data: Buffer, mediaType: string): Promise<Descriptor> {
    const digest = sha256(data);
    const started = await call('POST', `${base}/v2/${repo}/blobs/uploads/`);
    expect(started.status).toBe(202);
    const location = new URL(started.headers.location!, base);
    location.searchParams.set('digest', digest);
    const done = await call('PUT', location.toString(), data, { 'Content-Type': 'application/octet-stream' });
    expect(done.status).toBe(201);
    return { mediaType, digest, size: data.length };
  }

  async function pushManifest(repo: string, tag: string, document: object, mediaType: string): Promise<Descriptor> {
    const body = Buffer.from(JSON.stringify(document));
    const res = await call('PUT', `${base}/v2/${repo}/manifests/${tag}`, body, { 'Content-Type': mediaType });
    if (res.status !== 201) throw new Error(`manifest push: ${res.status} ${res.body.toString()}`);
    return { mediaType, digest: sha256(body), size: body.length };
  }

  async function pushImage(repo: string, tag: string, arch: string, layer: Buffer) {
    const config = await pushBlob(repo, Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })), MediaType.OciConfig);
    const layerDesc = await pushBlob(repo, layer, MediaType.OciLayerGzip);
    const manifest = await pushManifest(repo, tag, { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layerDesc] }, MediaType.OciManifest);
    return { config, layer: layerDesc, manifest };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crisp-docker-registry-'));
    const port = await freePort();
    host = `127.0.0.1:${port}`;
    base = `http://${host}`;
    const config = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      'http:',
      `  addr: ${host}`,
      '',
    ].join('\n');
    await writeFile(join(dir, 'config.yml'), config);
    child = spawn(BINARY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] ?? '' } });
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await call('GET', `${base}/v2/`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`docker-registry did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await mkdir(join(dir, 'certs.d', host), { recursive: true });
    await writeFile(join(dir, 'certs.d', host, 'hosts.toml'), `server = "http://${host}"\n`);
    client = new RegistryClient({ configDir: join(dir, 'certs.d'), retry: { attempts: 2, initialDelayMs: 10, maxDelayMs: 50 } });
  }, 30_000);

  afterAll(async () => {
    client?.close();
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('pulls a pushed image: resolve, manifest, blobs, resume', async () => {
    const layer = Buffer.from('a tiny layer, pushed over plain HTTP '.repeat(50));
    const image = await pushImage('test/tiny', 'v1', 'amd64', layer);
    const ref = `${host}/test/tiny:v1`;

    const root = await client.resolve(ref);
    expect(root).toEqual(image.manifest);

    const fetched = await client.fetchManifest(ref, root);
    if (fetched.kind !== 'manifest') throw new Error('expected a manifest');
    expect(fetched.manifest.layers).toEqual([image.layer]);
    expect(fetched.endpoint).toBe(`${base}/v2`);

    const blob = await client.fetchBlob(ref, image.layer);
    expect(await readAll(blob.stream)).toEqual(layer);

    const resumed = await client.fetchBlob(ref, image.layer, { offset: 100, hash: createHash('sha256').update(layer.subarray(0, 100)) });
    expect(resumed.restarted).toBe(false);
    expect(resumed.offset).toBe(100);
    expect(await readAll(resumed.stream)).toEqual(layer.subarray(100));

    const err = await client.resolve(`${host}/test/tiny:nope`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/test\/tiny:nope: HEAD .*404 Not Found/);
  });

  it('selects the platform from a pushed index', async () => {
    const amd = await pushImage('test/multi', 'amd64', 'amd64', Buffer.from('amd64 bits'));
    const arm = await pushImage('test/multi', 'arm64', 'arm64', Buffer.from('arm64 bits'));
    const index = await pushManifest(
      'test/multi',
      'v1',
      {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
          { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        ],
      },
      MediaType.OciIndex,
    );
    const image = await client.resolveImage(`${host}/test/multi:v1`, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(image.root).toEqual(index);
    expect(image.manifest.descriptor.digest).toBe(arm.manifest.digest);
    expect(JSON.parse(image.config.bytes.toString())).toMatchObject({ architecture: 'arm64' });
  });
});
