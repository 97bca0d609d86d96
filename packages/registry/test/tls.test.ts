// Per-endpoint TLS from hosts.toml against HTTPS fake registries on 127.0.0.1: a private CA
// (also trusted for the token realm), skip_verify, client certificates, the loopback default.
// Certificates are made with the openssl CLI; skipped without it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RegistryClient, RegistryUnavailableError } from '../src';
import { FakeRegistry } from './fake-registry';

const OPENSSL = '/usr/bin/openssl';
const maybe = existsSync(OPENSSL) ? describe : describe.skip;

maybe('TLS endpoints', () => {
  let pki: string;
  let configDir: string;
  let files: Record<'caCert' | 'serverKey' | 'serverCert' | 'clientKey' | 'clientCert', Buffer>;
  const closers: Array<() => Promise<void> | void> = [];

  const openssl = (...args: string[]): void => {
    execFileSync(OPENSSL, args, { cwd: pki, stdio: 'ignore' });
  };

  beforeAll(async () => {
    pki = await mkdtemp(join(tmpdir(), 'crisp-pki-'));
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=crisp test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    for (const [name, ext] of [
      ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
      ['client', 'extendedKeyUsage=clientAuth\n'],
    ] as const) {
      await writeFile(join(pki, `${name}.ext`), ext);
      openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`,
        '-days', '2', '-extfile', `${name}.ext`);
    }
    files = {
      caCert: await readFile(join(pki, 'ca.crt')),
      serverKey: await readFile(join(pki, 'server.key')),
      serverCert: await readFile(join(pki, 'server.crt')),
      clientKey: await readFile(join(pki, 'client.key')),
      clientCert: await readFile(join(pki, 'client.crt')),
    };
  }, 30_000);

  afterAll(async () => {
    await rm(pki, { recursive: true, force: true });
  });

  beforeEach(async () => {
    configDir = await mkdtemp(join(tmpdir(), 'crisp-tls-hosts-'));
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await rm(configDir, { recursive: true, force: true });
  });

  async function httpsRegistry(mutual = false): Promise<FakeRegistry> {
    const options = mutual
      ? { key: files.serverKey, cert: files.serverCert, ca: files.caCert, requestCert: true, rejectUnauthorized: true }
      : { key: files.serverKey, cert: files.serverCert };
    const reg = await new FakeRegistry(options).start();
    closers.push(() => reg.close());
    reg.addImage('app', 'v1', ['layer']);
    return reg;
  }

  async function hostsToml(host: string, text: string): Promise<string> {
    const dir = join(configDir, host);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'hosts.toml'), text);
    return dir;
  }

  function client(): RegistryClient {
    const c = new RegistryClient({ configDir, retry: { attempts: 2, initialDelayMs: 5, maxDelayMs: 10 } });
    closers.push(() => c.close());
    return c;
  }

  it('trusts a CA from hosts.toml, for the registry and its token realm', async () => {
    const reg = await httpsRegistry();
    reg.auth = { kind: 'bearer' };
    const dir = await hostsToml(reg.host, `server = "https://${reg.host}"\nca = "ca.crt"\n`);
    await writeFile(join(dir, 'ca.crt'), files.caCert);
    const image = await client().resolveImage(`${reg.host}/app:v1`, { platform: { os: 'linux', architecture: 'amd64' } });
    expect(image.manifest.endpoint).toBe(`https://${reg.host}/v2`);
    expect(reg.matching(/^\/token$/)).toHaveLength(1);
  });

  it('refuses an unknown CA, and skip_verify accepts it', async () => {
    const reg = await httpsRegistry();
    await hostsToml(reg.host, `server = "https://${reg.host}"\n`);
    const err = await client().resolve(`${reg.host}/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnavailableError);
    expect((err as Error).message).toMatch(/certificate/i);

    await hostsToml(reg.host, `server = "https://${reg.host}"\nskip_verify = true\n`);
    await expect(client().resolve(`${reg.host}/app:v1`)).resolves.toMatchObject({ size: expect.any(Number) });
  });

  it('presents client certificates when the registry demands them', async () => {
    const reg = await httpsRegistry(true);
    const dir = await hostsToml(reg.host, `server = "https://${reg.host}"\nca = "ca.crt"\n`);
    await writeFile(join(dir, 'ca.crt'), files.caCert);
    await expect(client().resolve(`${reg.host}/app:v1`)).rejects.toBeInstanceOf(RegistryUnavailableError);

    await writeFile(join(dir, 'client.crt'), files.clientCert);
    await writeFile(join(dir, 'client.key'), files.clientKey);
    await hostsToml(reg.host, `server = "https://${reg.host}"\nca = "ca.crt"\nclient = [["client.crt", "client.key"]]\n`);
    await expect(client().resolve(`${reg.host}/app:v1`)).resolves.toMatchObject({ size: expect.any(Number) });

    // One PEM holding both certificate and key.
    await writeFile(join(dir, 'both.pem'), Buffer.concat([files.clientCert, files.clientKey]));
    await hostsToml(reg.host, `server = "https://${reg.host}"\nca = "ca.crt"\nclient = "both.pem"\n`);
    await expect(client().resolve(`${reg.host}/app:v1`)).resolves.toMatchObject({ size: expect.any(Number) });
  });

  it('talks HTTPS to an unconfigured loopback registry that has TLS (no verification)', async () => {
    const reg = await httpsRegistry();
    await expect(client().resolve(`${reg.host}/app:v1`)).resolves.toMatchObject({ size: expect.any(Number) });
  });

  it('reports an unreadable CA file as a configuration error', async () => {
    const reg = await httpsRegistry();
    await hostsToml(reg.host, `server = "https://${reg.host}"\nca = "missing.crt"\n`);
    await expect(client().resolve(`${reg.host}/app:v1`)).rejects.toThrow(/unable to read CA certificate/);
  });
});
