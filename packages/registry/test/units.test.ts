// Small pure pieces: WWW-Authenticate parsing, credentials, the verifying stream, manifest parsing.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  computeDigest,
  credentialsApplyTo,
  credentialsFromAuthConfig,
  DigestMismatchError,
  detectManifestMediaType,
  digestProblem,
  InvalidManifestError,
  MediaType,
  parseChallenges,
  parseManifest,
  RegistryError,
  SizeMismatchError,
  UnsupportedMediaTypeError,
  verifyingStream,
} from '../src';

describe('parseChallenges', () => {
  it('parses a Docker Hub bearer challenge', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
      },
    ]);
  });

  it('parses several challenges, unquoted values, escapes and odd spacing', () => {
    expect(parseChallenges(['Basic realm="Registry Realm"', 'BEARER realm=https://x/token , service=x,error="insufficient_scope"'])).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://x/token', service: 'x', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges('Basic realm="a\\"b", Bearer realm="r",scope="s1 s2"')).toEqual([
      { scheme: 'basic', params: { realm: 'a"b' } },
      { scheme: 'bearer', params: { realm: 'r', scope: 's1 s2' } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('credentials', () => {
  it('follows the precedence registryToken > identityToken > username > auth', () => {
    expect(credentialsFromAuthConfig(undefined)).toBeUndefined();
    expect(credentialsFromAuthConfig({ username: '', password: '', auth: '' })).toBeUndefined();
    expect(credentialsFromAuthConfig({ username: 'u', password: 'p' })).toEqual({ kind: 'basic', username: 'u', password: 'p' });
    expect(credentialsFromAuthConfig({ auth: Buffer.from('me:pa:ss').toString('base64') })).toEqual({
      kind: 'basic',
      username: 'me',
      password: 'pa:ss',
    });
    expect(credentialsFromAuthConfig({ username: 'u', password: 'p', identityToken: 'refresh' })).toEqual({
      kind: 'identityToken',
      token: 'refresh',
      username: 'u',
    });
    expect(credentialsFromAuthConfig({ identityToken: 'refresh', registryToken: 'bearer' })).toEqual({ kind: 'registryToken', token: 'bearer' });
    expect(() => credentialsFromAuthConfig({ auth: Buffer.from('nocolon').toString('base64') })).toThrow(RegistryError);
  });

  it('sends credentials only to the serverAddress host when one is given', () => {
    expect(credentialsApplyTo({ username: 'u' }, 'mirror.local')).toBe(true);
    expect(credentialsApplyTo({ username: 'u', serverAddress: 'https://index.docker.io/v1/' }, 'registry-1.docker.io')).toBe(true);
    expect(credentialsApplyTo({ username: 'u', serverAddress: 'docker.io' }, 'mirror.local')).toBe(false);
    expect(credentialsApplyTo({ username: 'u', serverAddress: 'reg.local:5000' }, 'reg.local:5000')).toBe(true);
  });
});

describe('verifyingStream', () => {
  const data = Buffer.from('hello, registry');
  const good = computeDigest(data);
  const run = (chunks: Buffer[], digest: string, size?: number, options?: Parameters<typeof verifyingStream>[2]): Promise<Buffer> => {
    const out: Buffer[] = [];
    const v = verifyingStream(digest, size, options);
    v.on('data', (c: Buffer) => out.push(c));
    return pipeline(Readable.from(chunks), v).then(() => Buffer.concat(out));
  };

  it('passes good content through', async () => {
    await expect(run([data.subarray(0, 3), data.subarray(3)], good, data.length)).resolves.toEqual(data);
  });

  it('fails on a wrong digest at the end', async () => {
    const err = await run([Buffer.from('hello, REGISTRY')], good, data.length).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).expected).toBe(good);
    expect((err as DigestMismatchError).actual).toBe(computeDigest(Buffer.from('hello, REGISTRY')));
  });

  it('fails as soon as too many bytes arrive', async () => {
    // An endless source: only the overflow check can end this.
    const source = new Readable({
      read() {
        this.push(Buffer.alloc(10));
      },
    });
    const v = verifyingStream(good, 25);
    v.resume();
    const err = await pipeline(source, v).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SizeMismatchError);
    expect((err as Error).message).toMatch(/expected 25 bytes, got at least 30/);
    expect(source.destroyed).toBe(true);
  });

  it('fails when fewer bytes came', async () => {
    const err = await run([data.subarray(0, 4)], good, data.length).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SizeMismatchError);
  });

  it('verifies a resumed transfer with a pre-fed hash, or its size alone', async () => {
    const hash = createHash('sha256').update(data.subarray(0, 5));
    await expect(run([data.subarray(5)], good, data.length, { offset: 5, hash })).resolves.toEqual(data.subarray(5));
    await expect(run([Buffer.from('XXXXXXXXXX')], good, data.length, { offset: 5 })).resolves.toHaveLength(10);
    const badHash = createHash('sha256').update(Buffer.from('HELLO'));
    await expect(run([data.subarray(5)], good, data.length, { offset: 5, hash: badHash })).rejects.toBeInstanceOf(DigestMismatchError);
  });

  it('supports sha512 and rejects invalid digests', async () => {
    await expect(run([data], computeDigest(data, 'sha512'), data.length)).resolves.toEqual(data);
    expect(() => verifyingStream('sha256:xyz')).toThrow(RegistryError);
    expect(digestProblem(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
    expect(digestProblem('sha256')).toMatch(/algorithm/);
  });
});

describe('manifests', () => {
  const d = `sha256:${'1'.repeat(64)}`;
  const manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: d, size: 2 }, layers: [] };
  const index = { schemaVersion: 2, manifests: [{ mediaType: MediaType.OciManifest, digest: d, size: 2, platform: { os: 'linux', architecture: 'amd64' } }] };

  it('parses manifests and indexes', () => {
    expect(parseManifest(Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest)).toMatchObject({ kind: 'manifest' });
    expect(parseManifest(Buffer.from(JSON.stringify(index)), MediaType.DockerManifestList)).toMatchObject({ kind: 'index' });
  });

  it('rejects confusion between index and manifest, bad descriptors, schema 1', () => {
    expect(() => parseManifest(Buffer.from(JSON.stringify(manifest)), MediaType.OciIndex)).toThrow(InvalidManifestError);
    const badLayer = { ...manifest, layers: [{ mediaType: 'x', digest: 'sha256:nope', size: 1 }] };
    expect(() => parseManifest(Buffer.from(JSON.stringify(badLayer)), MediaType.OciManifest)).toThrow(/layers\[0\]/);
    expect(() => parseManifest(Buffer.from('{'), MediaType.OciManifest)).toThrow(/not valid JSON/);
    expect(() => parseManifest(Buffer.from('{}'), MediaType.DockerSchema1SignedManifest)).toThrow(UnsupportedMediaTypeError);
  });

  it('detects the media type when the registry says application/json', () => {
    expect(detectManifestMediaType('application/json', Buffer.from(JSON.stringify(manifest)))).toBe(MediaType.OciManifest);
    expect(detectManifestMediaType(undefined, Buffer.from(JSON.stringify(index)))).toBe(MediaType.OciIndex);
    expect(detectManifestMediaType(`${MediaType.DockerManifest}; charset=utf-8`, Buffer.from('{}'))).toBe(MediaType.DockerManifest);
    expect(detectManifestMediaType('text/plain', Buffer.from('{"schemaVersion":1}'))).toBe(MediaType.DockerSchema1Manifest);
  });
});
