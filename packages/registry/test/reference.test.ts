import {
  InvalidReferenceError,
  isImageId,
  isLocalhost,
  normalizeImageId,
  parseReference,
  registryHost,
  sameRegistryHost,
  splitHostPort,
  tryParseReference,
  withDigest,
  withTag,
} from '../src';

const D = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('parseReference: normalization', () => {
  const cases: Array<[string, { domain: string; path: string; tag?: string; digest?: string; normalized: string; familiar: string }]> = [
    ['busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox:latest' }],
    ['busybox:1.36', { domain: 'docker.io', path: 'library/busybox', tag: '1.36', normalized: 'docker.io/library/busybox:1.36', familiar: 'busybox:1.36' }],
    ['user/repo', { domain: 'docker.io', path: 'user/repo', tag: 'latest', normalized: 'docker.io/user/repo:latest', familiar: 'user/repo:latest' }],
    ['user/sub/repo:v1', { domain: 'docker.io', path: 'user/sub/repo', tag: 'v1', normalized: 'docker.io/user/sub/repo:v1', familiar: 'user/sub/repo:v1' }],
    ['docker.io/library/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox:latest' }],
    ['docker.io/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox:latest' }],
    ['index.docker.io/user/repo', { domain: 'docker.io', path: 'user/repo', tag: 'latest', normalized: 'docker.io/user/repo:latest', familiar: 'user/repo:latest' }],
    ['index.docker.io/busybox', { domain: 'docker.io', path: 'library/busybox', tag: 'latest', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox:latest' }],
    ['registry.k8s.io/pause:3.9', { domain: 'registry.k8s.io', path: 'pause', tag: '3.9', normalized: 'registry.k8s.io/pause:3.9', familiar: 'registry.k8s.io/pause:3.9' }],
    ['quay.io/coreos/etcd:v3.5.0', { domain: 'quay.io', path: 'coreos/etcd', tag: 'v3.5.0', normalized: 'quay.io/coreos/etcd:v3.5.0', familiar: 'quay.io/coreos/etcd:v3.5.0' }],
    ['localhost/x', { domain: 'localhost', path: 'x', tag: 'latest', normalized: 'localhost/x:latest', familiar: 'localhost/x:latest' }],
    ['localhost:5000/a/b:t', { domain: 'localhost:5000', path: 'a/b', tag: 't', normalized: 'localhost:5000/a/b:t', familiar: 'localhost:5000/a/b:t' }],
    ['myhost:5000/repo', { domain: 'myhost:5000', path: 'repo', tag: 'latest', normalized: 'myhost:5000/repo:latest', familiar: 'myhost:5000/repo:latest' }],
    ['127.0.0.1:5000/repo:tag', { domain: '127.0.0.1:5000', path: 'repo', tag: 'tag', normalized: '127.0.0.1:5000/repo:tag', familiar: '127.0.0.1:5000/repo:tag' }],
    ['[::1]:5000/repo', { domain: '[::1]:5000', path: 'repo', tag: 'latest', normalized: '[::1]:5000/repo:latest', familiar: '[::1]:5000/repo:latest' }],
    ['Example.COM/repo', { domain: 'Example.COM', path: 'repo', tag: 'latest', normalized: 'Example.COM/repo:latest', familiar: 'Example.COM/repo:latest' }],
    [`busybox@${D}`, { domain: 'docker.io', path: 'library/busybox', digest: D, normalized: `docker.io/library/busybox@${D}`, familiar: `busybox@${D}` }],
    [`busybox:1.36@${D}`, { domain: 'docker.io', path: 'library/busybox', tag: '1.36', digest: D, normalized: `docker.io/library/busybox:1.36@${D}`, familiar: `busybox:1.36@${D}` }],
    [`localhost:5000/repo@${D2}`, { domain: 'localhost:5000', path: 'repo', digest: D2, normalized: `localhost:5000/repo@${D2}`, familiar: `localhost:5000/repo@${D2}` }],
    ['repo_name/with-dashes__and.dots:Tag_1.0-rc', { domain: 'docker.io', path: 'repo_name/with-dashes__and.dots', tag: 'Tag_1.0-rc', normalized: 'docker.io/repo_name/with-dashes__and.dots:Tag_1.0-rc', familiar: 'repo_name/with-dashes__and.dots:Tag_1.0-rc' }],
    ['a--b/c', { domain: 'docker.io', path: 'a--b/c', tag: 'latest', normalized: 'docker.io/a--b/c:latest', familiar: 'a--b/c:latest' }],
    // A host without a port or dot is only a domain when it is localhost: `localhost:5000` alone is a tag.
    ['localhost:5000', { domain: 'docker.io', path: 'library/localhost', tag: '5000', normalized: 'docker.io/library/localhost:5000', familiar: 'localhost:5000' }],
    ['docker.io/library/sub/repo', { domain: 'docker.io', path: 'library/sub/repo', tag: 'latest', normalized: 'docker.io/library/sub/repo:latest', familiar: 'library/sub/repo:latest' }],
    [`${'a'.repeat(128)}`, { domain: 'docker.io', path: `library/${'a'.repeat(128)}`, tag: 'latest', normalized: `docker.io/library/${'a'.repeat(128)}:latest`, familiar: `${'a'.repeat(128)}:latest` }],
  ];

  it.each(cases)('%s', (input, want) => {
    const ref = parseReference(input);
    expect(ref.domain).toBe(want.domain);
    expect(ref.path).toBe(want.path);
    expect(ref.tag).toBe(want.tag);
    expect(ref.digest).toBe(want.digest);
    expect(ref.name).toBe(`${want.domain}/${want.path}`);
    expect(ref.toString()).toBe(want.normalized);
    expect(String(ref)).toBe(want.normalized);
    expect(ref.familiar()).toBe(want.familiar);
    // Normalizing is idempotent.
    expect(parseReference(ref.toString()).toString()).toBe(want.normalized);
  });

  it('resolves by digest when there is one, else by tag', () => {
    expect(parseReference('busybox').object).toBe('latest');
    expect(parseReference(`busybox:1@${D}`).object).toBe(D);
    expect(parseReference(`busybox@${D}`).object).toBe(D);
  });

  it('can leave the tag out', () => {
    const ref = parseReference('busybox', { defaultTag: false });
    expect(ref.tag).toBeUndefined();
    expect(ref.toString()).toBe('docker.io/library/busybox');
  });

  it('knows where docker.io is served from', () => {
    expect(parseReference('busybox').registryHost).toBe('registry-1.docker.io');
    expect(registryHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryHost('index.docker.io')).toBe('registry-1.docker.io');
    expect(registryHost('quay.io')).toBe('quay.io');
    expect(registryHost('localhost:5000')).toBe('localhost:5000');
  });
});

describe('parseReference: rejections', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Busybox', /must be lowercase/],
    ['user/Repo', /must be lowercase/],
    ['User/repo', /must be lowercase/],
    ['quay.io/Org/repo', /must be lowercase/],
    ['busybox:', /tag after ":" is empty/],
    ['busybox:-bad', /invalid tag format/],
    ['busybox:.bad', /invalid tag format/],
    [`busybox:${'a'.repeat(129)}`, /invalid tag format/],
    ['busybox:a/b', /invalid registry host "busybox:a"/],
    ['busybox@', /digest after "@" is empty/],
    ['busybox@sha256:abc', /invalid digest format/],
    [`busybox@sha256:${'A'.repeat(64)}`, /lowercase hexadecimal/],
    [`busybox@sha256:${'a'.repeat(63)}`, /invalid digest format|length/],
    [`busybox@sha256:${'a'.repeat(65)}`, /length/],
    [`busybox@md5:${'a'.repeat(32)}`, /unsupported digest algorithm "md5"/],
    [`busybox@${D}@${D}`, /invalid digest format/],
    ['a'.repeat(64), /image ID/],
    ['https://docker.io/busybox', /invalid/],
    ['-bad/repo', /invalid repository path component/],
    ['repo-/x', /invalid repository path component/],
    ['a//b', /empty path component/],
    ['a/b/', /empty path component/],
    ['foo bar', /whitespace/],
    ['@sha256:' + 'a'.repeat(64), /repository name is empty/],
    [':tag', /repository name is empty/],
    ['-host.com/repo', /invalid registry host/],
    ['host.com:port/repo', /invalid registry host/],
    [`quay.io/${'a/'.repeat(124)}abc`, /not be more than 255/],
    ['a...b/c', /invalid registry host/],
    ['library/a...b', /invalid repository path component "a...b"/],
    ['a_-b', /invalid repository path component/],
  ];

  it.each(cases)('%j', (input, message) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidReferenceError);
    const err = caught as InvalidReferenceError;
    expect(err.message).toMatch(message);
    expect(err.reference).toBe(input);
    expect(err.name).toBe('InvalidReferenceError');
    expect(tryParseReference(input)).toBeUndefined();
  });
});

describe('helpers', () => {
  it('withDigest makes name@digest, dropping the tag', () => {
    expect(withDigest('busybox:1.36', D).toString()).toBe(`docker.io/library/busybox@${D}`);
    expect(withDigest(parseReference('localhost:5000/x:t'), D).toString()).toBe(`localhost:5000/x@${D}`);
    expect(() => withDigest('busybox', 'sha256:nope')).toThrow(InvalidReferenceError);
  });

  it('withTag makes name:tag', () => {
    expect(withTag(`busybox@${D}`, 'v2').toString()).toBe('docker.io/library/busybox:v2');
    expect(() => withTag('busybox', '-x')).toThrow(InvalidReferenceError);
  });

  it.each([
    [D, true],
    ['a'.repeat(64), true],
    [`sha256:${'A'.repeat(64)}`, false],
    [`sha512:${'a'.repeat(128)}`, false],
    ['a'.repeat(63), false],
    ['busybox', false],
    [`busybox@${D}`, false],
  ])('isImageId(%s) = %s', (value, want) => {
    expect(isImageId(value)).toBe(want);
  });

  it('normalizeImageId adds the algorithm', () => {
    expect(normalizeImageId('b'.repeat(64))).toBe(`sha256:${'b'.repeat(64)}`);
    expect(normalizeImageId(D)).toBe(D);
    expect(() => normalizeImageId('busybox')).toThrow(InvalidReferenceError);
  });

  it.each([
    ['localhost', true],
    ['localhost:5000', true],
    ['LOCALHOST:1', true],
    ['127.0.0.1', true],
    ['127.1.2.3:5000', true],
    ['[::1]:5000', true],
    ['::1', true],
    ['10.0.0.1:5000', false],
    ['localhost.example.com', false],
    ['docker.io', false],
  ])('isLocalhost(%s) = %s', (host, want) => {
    expect(isLocalhost(host)).toBe(want);
  });

  it('splitHostPort handles IPv6', () => {
    expect(splitHostPort('[::1]:5000')).toEqual({ host: '::1', port: '5000' });
    expect(splitHostPort('host:1')).toEqual({ host: 'host', port: '1' });
    expect(splitHostPort('host')).toEqual({ host: 'host' });
  });

  it('sameRegistryHost treats the Docker Hub names as one', () => {
    expect(sameRegistryHost('https://index.docker.io/v1/', 'registry-1.docker.io')).toBe(true);
    expect(sameRegistryHost('docker.io', 'registry-1.docker.io')).toBe(true);
    expect(sameRegistryHost('quay.io', 'QUAY.IO')).toBe(true);
    expect(sameRegistryHost('quay.io', 'ghcr.io')).toBe(false);
  });
});
