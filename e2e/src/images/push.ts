// A tiny OCI distribution client for pushing fixtures (test tooling): HEAD to skip blobs the
// registry has, POST + monolithic PUT to upload, PUT manifests with their media type, basic auth.

import * as fs from 'node:fs';
import * as http from 'node:http';
import { BlobRef, FixtureImage } from './build';
import { FIXTURE_NAMES, FixtureName, FIXTURES } from './fixtures';

export interface RegistryTarget {
  /** `host:port` (plain HTTP). */
  host: string;
  auth?: { username: string; password: string };
}

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class RegistryClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly authHeader: string | undefined;

  constructor(readonly target: RegistryTarget) {
    this.authHeader = target.auth
      ? `Basic ${Buffer.from(`${target.auth.username}:${target.auth.password}`).toString('base64')}`
      : undefined;
  }

  close(): void {
    this.agent.destroy();
  }

  request(
    method: string,
    pathOrUrl: string,
    opts: { headers?: Record<string, string | number>; body?: Buffer | { file: string; size: number } } = {},
  ): Promise<Response> {
    const url = new URL(pathOrUrl, `http://${this.target.host}`);
    const headers: Record<string, string | number> = { ...opts.headers };
    if (this.authHeader) headers.Authorization = this.authHeader;
    const body = opts.body;
    if (body) headers['Content-Length'] = Buffer.isBuffer(body) ? body.length : body.size;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { method, host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      if (!body) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else fs.createReadStream(body.file).on('error', reject).pipe(req);
    });
  }

  private fail(what: string, res: Response): never {
    const hint = res.status === 401 ? (this.target.auth ? ' (credentials rejected)' : ' (registry wants credentials)') : '';
    throw new Error(`${what}: HTTP ${res.status}${hint}: ${res.body.toString('utf8').slice(0, 500)}`);
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`);
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail(`HEAD blob ${repo}@${digest}`, res);
  }

  /** Uploads a blob unless the repository has it; returns whether it was uploaded. */
  async pushBlob(repo: string, blob: BlobRef): Promise<boolean> {
    if (await this.blobExists(repo, blob.digest)) return false;
    const start = await this.request('POST', `/v2/${repo}/blobs/uploads/`);
    if (start.status !== 202) this.fail(`start upload to ${repo}`, start);
    const location = start.headers.location;
    if (!location) throw new Error(`start upload to ${repo}: no Location header`);
    const url = new URL(location, `http://${this.target.host}`);
    url.searchParams.set('digest', blob.digest);
    const put = await this.request('PUT', url.toString(), {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: { file: blob.path, size: blob.size },
    });
    if (put.status !== 201) this.fail(`upload ${blob.digest} to ${repo}`, put);
    return true;
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, {
      headers: { 'Content-Type': mediaType },
      body: bytes,
    });
    if (res.status !== 201) this.fail(`PUT manifest ${repo}:${reference}`, res);
    return String(res.headers['docker-content-digest'] ?? '');
  }

  /** GET a manifest (Accept: OCI and Docker manifest/index types). */
  async getManifest(repo: string, reference: string): Promise<{ status: number; mediaType: string; digest: string; body: Buffer }> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${reference}`, {
      headers: {
        Accept: [
          'application/vnd.oci.image.index.v1+json',
          'application/vnd.oci.image.manifest.v1+json',
          'application/vnd.docker.distribution.manifest.list.v2+json',
          'application/vnd.docker.distribution.manifest.v2+json',
        ].join(', '),
      },
    });
    return {
      status: res.status,
      mediaType: String(res.headers['content-type'] ?? ''),
      digest: String(res.headers['docker-content-digest'] ?? ''),
      body: res.body,
    };
  }

  /** Pushes an image (blobs, then manifest) or an index (children by digest first) as repo:tag. */
  async pushImage(repo: string, tag: string, image: FixtureImage): Promise<string> {
    if (image.children) {
      for (const child of image.children) await this.pushImage(repo, child.digest, child);
    } else {
      for (const layer of image.layers) await this.pushBlob(repo, layer);
      if (image.configBlob) await this.pushBlob(repo, image.configBlob);
    }
    const digest = await this.putManifest(repo, tag, image.mediaType, image.manifestBytes);
    if (digest && digest !== image.digest) {
      throw new Error(`registry computed ${digest} for ${repo}:${tag}, expected ${image.digest}`);
    }
    return image.digest;
  }
}

export interface PushedFixture {
  name: FixtureName;
  repository: string;
  tag: string;
  /** `host/repository:tag` */
  reference: string;
  /** `host/repository@digest` */
  digestReference: string;
  /** Manifest (or index) digest. */
  digest: string;
  /** Config digest (image id) of the image, or for multiarch of this host's image. */
  imageId: string;
  image: FixtureImage;
}

/** Builds (or takes from the cache) and pushes fixtures; all of them by default. */
export async function pushFixtures(
  registry: RegistryTarget,
  names: FixtureName[] = FIXTURE_NAMES,
): Promise<Record<FixtureName, PushedFixture>> {
  const client = new RegistryClient(registry);
  const out: Partial<Record<FixtureName, PushedFixture>> = {};
  try {
    for (const name of names) {
      const spec = FIXTURES[name];
      if (!spec) throw new Error(`unknown fixture "${name}" (known: ${FIXTURE_NAMES.join(', ')})`);
      const image = await spec.build();
      const digest = await client.pushImage(spec.repository, spec.tag, image);
      const imageId = image.configBlob?.digest ?? image.children?.[0]?.configBlob?.digest ?? '';
      out[name] = {
        name,
        repository: spec.repository,
        tag: spec.tag,
        reference: `${registry.host}/${spec.repository}:${spec.tag}`,
        digestReference: `${registry.host}/${spec.repository}@${digest}`,
        digest,
        imageId,
        image,
      };
    }
  } finally {
    client.close();
  }
  return out as Record<FixtureName, PushedFixture>;
}
