import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostsConfigError, findHostDir, loadEndpoints, parseHostsToml } from '../src';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'crisp-hosts-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function hostsFile(host: string, text: string): Promise<string> {
  await mkdir(join(dir, host), { recursive: true });
  await writeFile(join(dir, host, 'hosts.toml'), text);
  return join(dir, host);
}

describe('defaults without configuration', () => {
  it('docker.io goes to registry-1.docker.io over HTTPS', async () => {
    const [ep, ...rest] = await loadEndpoints('docker.io');
    expect(rest).toHaveLength(0);
    expect(ep).toMatchObject({
      url: 'https://registry-1.docker.io/v2',
      scheme: 'https',
      host: 'registry-1.docker.io',
      path: '/v2',
      capabilities: ['pull', 'resolve', 'push'],
      mirror: false,
      tls: { skipVerify: false, caFiles: [], clientCerts: [] },
    });
    expect(ep!.plainHttpFallback).toBeUndefined();
  });

  it('other hosts go to https://<host>/v2', async () => {
    const endpoints = await loadEndpoints('quay.io:8443', { configDir: dir });
    expect(endpoints.map((e) => e.url)).toEqual(['https://quay.io:8443/v2']);
  });

  it.each(['localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'localhost'])(
    'loopback %s: HTTPS without verification, with plain-HTTP fallback',
    async (host) => {
      const [ep] = await loadEndpoints(host, { configDir: dir });
      expect(ep).toMatchObject({ scheme: 'https', host, plainHttpFallback: true, tls: { skipVerify: true } });
    },
  );

  it('the localhost fallback can be turned off', async () => {
    const [ep] = await loadEndpoints('localhost:5000', { localhostHttpFallback: false });
    expect(ep!.plainHttpFallback).toBeUndefined();
    expect(ep!.tls.skipVerify).toBe(false);
  });
});

describe('hosts.toml', () => {
  it('lists mirrors in file order, then the upstream server, with their settings', async () => {
    const hostDir = await hostsFile(
      'docker.io',
      `
server = "https://registry-1.docker.io"

[host."https://zmirror.example.com"]
  capabilities = ["pull", "resolve"]
  ca = "mirror-ca.crt"
  client = [["/etc/certs/client.cert", "client.key"], ["both.pem", ""]]
  skip_verify = true
  [host."https://zmirror.example.com".header]
    x-custom-1 = "one"
    x-custom-2 = ["a", "b"]

[host."http://amirror.local:5000"]
  capabilities = ["pull"]

[host."mirror-no-scheme.example.com/some/prefix"]
  ca = ["/abs/ca1.crt", "rel/ca2.crt"]
  client = "combined.pem"

[host."https://proxy.example.com/custom/api"]
  override_path = true
`,
    );
    const endpoints = await loadEndpoints('docker.io', { configDir: dir });
    expect(endpoints.map((e) => e.url)).toEqual([
      'https://zmirror.example.com/v2',
      'http://amirror.local:5000/v2',
      'https://mirror-no-scheme.example.com/some/prefix/v2',
      'https://proxy.example.com/custom/api',
      'https://registry-1.docker.io/v2',
    ]);
    const [z, a, noScheme, proxy, upstream] = endpoints;
    expect(z).toMatchObject({
      mirror: true,
      capabilities: ['pull', 'resolve'],
      headers: { 'x-custom-1': ['one'], 'x-custom-2': ['a', 'b'] },
      tls: {
        skipVerify: true,
        caFiles: [join(hostDir, 'mirror-ca.crt')],
        clientCerts: [{ cert: '/etc/certs/client.cert', key: join(hostDir, 'client.key') }, { cert: join(hostDir, 'both.pem') }],
      },
      source: join(hostDir, 'hosts.toml'),
    });
    expect(a).toMatchObject({ scheme: 'http', host: 'amirror.local:5000', capabilities: ['pull'] });
    expect(noScheme!.tls.caFiles).toEqual(['/abs/ca1.crt', join(hostDir, 'rel/ca2.crt')]);
    expect(noScheme!.tls.clientCerts).toEqual([{ cert: join(hostDir, 'combined.pem') }]);
    expect(proxy!.path).toBe('/custom/api');
    expect(upstream).toMatchObject({ mirror: false, capabilities: ['pull', 'resolve', 'push'] });
  });

  it('uses the default upstream when there is no server, with the top-level settings', async () => {
    const hostDir = await hostsFile('registry.example.com', 'ca = "ca.pem"\nskip_verify = false\n[header]\n  x-a = "b"\n');
    const endpoints = await loadEndpoints('registry.example.com', { configDir: dir });
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]).toMatchObject({
      url: 'https://registry.example.com/v2',
      mirror: false,
      headers: { 'x-a': ['b'] },
      tls: { caFiles: [join(hostDir, 'ca.pem')] },
    });
  });

  it('plain http server (no fallback dance)', async () => {
    await hostsFile('127.0.0.1:5000', 'server = "http://127.0.0.1:5000"\n');
    const endpoints = await loadEndpoints('127.0.0.1:5000', { configDir: dir });
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0]).toMatchObject({ url: 'http://127.0.0.1:5000/v2', scheme: 'http', mirror: false });
    expect(endpoints[0]!.plainHttpFallback).toBeUndefined();
  });

  it('a server path ending in /v2 is kept, a trailing slash is not doubled', () => {
    expect(parseHostsToml('server = "https://r.example.com/v2/"', 'r.example.com', dir).map((e) => e.url)).toEqual([
      'https://r.example.com/v2',
    ]);
    expect(parseHostsToml('server = "https://r.example.com/"', 'r.example.com', dir).map((e) => e.url)).toEqual([
      'https://r.example.com/v2',
    ]);
  });

  it('falls back to _default, and accepts the host_port_ spelling', async () => {
    await hostsFile('_default', '[host."https://everything-mirror.local"]\n');
    await hostsFile('myreg.local_5000_', 'server = "https://myreg.local:5000"\n');
    expect((await loadEndpoints('quay.io', { configDir: dir })).map((e) => e.url)).toEqual([
      'https://everything-mirror.local/v2',
      'https://quay.io/v2',
    ]);
    expect((await loadEndpoints('myreg.local:5000', { configDir: dir })).map((e) => e.url)).toEqual(['https://myreg.local:5000/v2']);
    expect(await findHostDir(dir, 'myreg.local:5000')).toBe(join(dir, 'myreg.local_5000_'));
  });

  it('prefers the host:port directory', async () => {
    await hostsFile('myreg.local:5000', 'server = "http://myreg.local:5000"\n');
    await hostsFile('myreg.local_5000_', 'server = "https://wrong.local"\n');
    expect((await loadEndpoints('myreg.local:5000', { configDir: dir })).map((e) => e.url)).toEqual(['http://myreg.local:5000/v2']);
  });

  it('reads a Docker-style certificate directory when there is no hosts.toml', async () => {
    const certDir = join(dir, 'secure.example.com');
    await mkdir(certDir);
    await writeFile(join(certDir, 'ca.crt'), 'x');
    await writeFile(join(certDir, 'client.cert'), 'x');
    await writeFile(join(certDir, 'client.key'), 'x');
    await writeFile(join(certDir, 'other.cert'), 'x');
    const [ep] = await loadEndpoints('secure.example.com', { configDir: dir });
    expect(ep).toMatchObject({
      url: 'https://secure.example.com/v2',
      tls: {
        caFiles: [join(certDir, 'ca.crt')],
        clientCerts: [{ cert: join(certDir, 'client.cert'), key: join(certDir, 'client.key') }, { cert: join(certDir, 'other.cert') }],
      },
    });
  });

  it.each([
    ['capabilities = ["pull", "fly"]', /unknown capability "fly"/],
    ['capabilities = "pull"', /"capabilities" must be an array/],
    ['skip_verify = "yes"', /"skip_verify" must be a boolean/],
    ['ca = 3', /"ca" must be a path/],
    ['client = [["a"]]', /"client" entries/],
    ['server = 5', /"server" must be a non-empty string/],
    ['server = "ftp://x"', /invalid URL|unsupported scheme/],
    ['[header]\nx = 1', /header "x"/],
    ['this is not toml', /invalid TOML/],
    ['host = "x"', /"host" must be a table/],
  ])('rejects %j', async (text, message) => {
    await hostsFile('bad.example.com', text);
    const err = await loadEndpoints('bad.example.com', { configDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostsConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(join(dir, 'bad.example.com', 'hosts.toml'));
  });

  it('refuses host names that would escape the config directory', async () => {
    await expect(findHostDir(dir, '../etc')).rejects.toBeInstanceOf(HostsConfigError);
    await expect(findHostDir(dir, '..')).rejects.toBeInstanceOf(HostsConfigError);
  });
});
