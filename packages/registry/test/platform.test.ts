import {
  compatiblePlatforms,
  currentPlatform,
  type Descriptor,
  formatPlatform,
  type ImageIndex,
  MediaType,
  NoMatchingPlatformError,
  normalizePlatform,
  ociArchitecture,
  parsePlatform,
  type Platform,
  selectPlatform,
} from '../src';

const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function entry(n: number, platform?: Platform): Descriptor {
  const d: Descriptor = { mediaType: MediaType.OciManifest, digest: digest(n), size: 100 + n };
  if (platform !== undefined) d.platform = platform;
  return d;
}

function index(...manifests: Descriptor[]): ImageIndex {
  return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
}

describe('node platform', () => {
  it.each([
    ['x64', 'amd64'],
    ['arm64', 'arm64'],
    ['arm', 'arm'],
    ['ia32', '386'],
    ['s390x', 's390x'],
    ['riscv64', 'riscv64'],
  ])('process.arch %s → %s', (node, oci) => {
    expect(ociArchitecture(node)).toBe(oci);
  });

  it('describes this machine', () => {
    const p = currentPlatform();
    expect(p.os).toBe(process.platform);
    expect(p.architecture).toBe(ociArchitecture(process.arch));
    if (p.architecture === 'arm64') expect(p.variant).toBe('v8');
  });
});

describe('normalizePlatform', () => {
  it.each([
    [{ os: 'Linux', architecture: 'x86_64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'amd64', variant: 'v1' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'aarch64' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm64', variant: '8' }, 'linux/arm64'],
    [{ os: 'linux', architecture: 'arm' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm', variant: '6' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'armhf' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'armel' }, 'linux/arm/v6'],
    [{ os: 'linux', architecture: 'i386' }, 'linux/386'],
    [{ os: 'macos', architecture: 'arm64' }, 'darwin/arm64'],
  ])('%j → %s', (input, want) => {
    expect(formatPlatform(normalizePlatform(input))).toBe(want);
  });

  it('parses os/arch/variant', () => {
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(() => parsePlatform('linux//v7')).toThrow();
  });

  it('lists what a platform can run, best first', () => {
    expect(compatiblePlatforms({ os: 'linux', architecture: 'amd64' }).map(formatPlatform)).toEqual(['linux/amd64', 'linux/386']);
    expect(compatiblePlatforms({ os: 'linux', architecture: 'amd64', variant: 'v3' }).map(formatPlatform)).toEqual([
      'linux/amd64/v3',
      'linux/amd64/v2',
      'linux/amd64',
      'linux/386',
    ]);
    expect(compatiblePlatforms({ os: 'linux', architecture: 'arm', variant: 'v7' }).map(formatPlatform)).toEqual([
      'linux/arm/v7',
      'linux/arm/v6',
      'linux/arm/v5',
    ]);
    expect(compatiblePlatforms({ os: 'linux', architecture: 'arm64', variant: 'v8' }).map(formatPlatform)).toEqual([
      'linux/arm64',
      'linux/arm/v8',
      'linux/arm/v7',
      'linux/arm/v6',
      'linux/arm/v5',
    ]);
  });
});

describe('selectPlatform', () => {
  const list = index(
    entry(1, { os: 'linux', architecture: 'amd64' }),
    entry(2, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    entry(3, { os: 'linux', architecture: 'arm', variant: 'v7' }),
    entry(4, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    entry(5, { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }),
    entry(6, { os: 'unknown', architecture: 'unknown' }),
  );

  it.each<[Platform, number]>([
    [{ os: 'linux', architecture: 'amd64' }, 1],
    [{ os: 'linux', architecture: 'arm64' }, 2],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, 2],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 3],
    [{ os: 'linux', architecture: 'arm', variant: 'v6' }, 4],
    [{ os: 'windows', architecture: 'amd64' }, 5],
  ])('%j gets entry %d', (platform, n) => {
    expect(selectPlatform(list, platform).digest).toBe(digest(n));
  });

  it('an arm64 entry without variant matches an arm64/v8 node', () => {
    const idx = index(entry(1, { os: 'linux', architecture: 'amd64' }), entry(2, { os: 'linux', architecture: 'arm64' }));
    expect(selectPlatform(idx, { os: 'linux', architecture: 'arm64', variant: 'v8' }).digest).toBe(digest(2));
  });

  it('falls back to a compatible variant', () => {
    const idx = index(entry(1, { os: 'linux', architecture: 'arm', variant: 'v5' }), entry(2, { os: 'linux', architecture: 'arm', variant: 'v6' }));
    expect(selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' }).digest).toBe(digest(2));
    expect(selectPlatform(idx, { os: 'linux', architecture: 'arm64' }).digest).toBe(digest(2));
  });

  it('prefers the exact match over a compatible one, whatever the order', () => {
    const idx = index(entry(1, { os: 'linux', architecture: '386' }), entry(2, { os: 'linux', architecture: 'amd64' }));
    expect(selectPlatform(idx, { os: 'linux', architecture: 'amd64' }).digest).toBe(digest(2));
  });

  it('uses an entry without platform as the last resort', () => {
    const idx = index(entry(1, { os: 'linux', architecture: 's390x' }), entry(2));
    expect(selectPlatform(idx, { os: 'linux', architecture: 'amd64' }).digest).toBe(digest(2));
  });

  it('says what is available when nothing matches', () => {
    const idx = index(
      entry(1, { os: 'linux', architecture: 's390x' }),
      entry(2, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
      entry(3, { os: 'unknown', architecture: 'unknown' }),
    );
    let err: unknown;
    try {
      selectPlatform(idx, { os: 'linux', architecture: 'amd64' }, 'the manifest list of x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NoMatchingPlatformError);
    expect((err as Error).message).toBe(
      'no matching manifest for linux/amd64 in the manifest list of x (available: linux/s390x, linux/arm64/v8)',
    );
    expect((err as NoMatchingPlatformError).available).toEqual(['linux/s390x', 'linux/arm64/v8']);
  });
});
