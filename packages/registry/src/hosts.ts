// Registry host configuration in containerd's layout (`config_path`, usually /etc/containerd/certs.d):
//
//   <configDir>/<host>/hosts.toml       host as in the reference: `docker.io`, `localhost:5000`
//   <configDir>/<host>_<port>_/         (containerd's older spelling of host:port, also accepted)
//   <configDir>/_default/hosts.toml     for hosts without a directory of their own
//
//   server = "https://registry.example.com"      # upstream; default https://<host> (docker.io:
//                                                #   https://registry-1.docker.io)
//   capabilities / ca / client / skip_verify / header / override_path at the top level apply to it
//   [host."https://mirror.example.com"]          # mirrors, tried first, in file order
//     capabilities = ["pull", "resolve"]         # default: pull, resolve, push
//     ca = "mirror-ca.crt"                       # or a list; relative to the host directory
//     client = [["client.cert", "client.key"]]   # or "both.pem", or ["a.pem", "b.pem"]
//     skip_verify = false
//     override_path = false                      # true: the URL path is the API root (no /v2)
//     [host."https://mirror.example.com".header]
//       x-custom = "value"                       # or ["a", "b"]
//
// An `http://` URL means plain HTTP. A host directory without hosts.toml is read the Docker way:
// `*.crt` are CAs, `*.cert` + `*.key` client pairs, for the default upstream.
//
// Localhost: when nothing names the upstream's scheme (no `server`), a loopback registry
// (`localhost`, 127.0.0.0/8, ::1) is tried over HTTPS without certificate verification and, when
// it answers plain HTTP to the TLS handshake, over plain HTTP (containerd ≥ 1.7's behaviour).
// `localhostHttpFallback: false` turns that off (HTTPS with verification, as for any host).
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { HostsConfigError } from './errors';
import { isLocalhost, registryHost } from './reference';

export type Capability = 'pull' | 'resolve' | 'push';

export const ALL_CAPABILITIES: readonly Capability[] = ['pull', 'resolve', 'push'];

export interface ClientCertPair {
  /** PEM certificate (chain) file. */
  cert: string;
  /** PEM private key file; absent when `cert` holds the key too. */
  key?: string;
}

export interface EndpointTls {
  /** Skip server certificate verification (`skip_verify`). */
  skipVerify: boolean;
  /** CA certificate files, added to the system roots. */
  caFiles: string[];
  clientCerts: ClientCertPair[];
}

export interface RegistryEndpoint {
  /** API root URL without trailing slash: `https://registry-1.docker.io/v2`. */
  url: string;
  scheme: 'http' | 'https';
  /** `host[:port]` to connect to. */
  host: string;
  /** API root path: `/v2` normally, the configured path with `override_path`. */
  path: string;
  capabilities: Capability[];
  tls: EndpointTls;
  /** Extra request headers from `header`. */
  headers: Record<string, string[]>;
  /** A `[host."…"]` entry (true) or the upstream server (false). */
  mirror: boolean;
  /** HTTPS endpoint of a loopback registry that may be retried over plain HTTP (see above). */
  plainHttpFallback?: boolean;
  /** The hosts.toml (or certificate directory) this came from, for messages. */
  source?: string;
}

export interface HostsOptions {
  /** containerd's `config_path`, e.g. `/etc/containerd/certs.d`. Unset: built-in defaults only. */
  configDir?: string;
  /** Loopback registries: HTTPS (unverified) then plain HTTP when no scheme is configured. Default true. */
  localhostHttpFallback?: boolean;
}

type TomlTable = Record<string, unknown>;

function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function absolute(p: string, baseDir: string): string {
  return isAbsolute(p) ? p : join(baseDir, p);
}

/** The default upstream endpoint for a registry host (no configuration). */
export function defaultEndpoint(host: string, options: HostsOptions = {}): RegistryEndpoint {
  const target = registryHost(host);
  const local = options.localhostHttpFallback !== false && isLocalhost(target);
  const endpoint: RegistryEndpoint = {
    url: `https://${target}/v2`,
    scheme: 'https',
    host: target,
    path: '/v2',
    capabilities: [...ALL_CAPABILITIES],
    tls: { skipVerify: local, caFiles: [], clientCerts: [] },
    headers: {},
    mirror: false,
  };
  if (local) endpoint.plainHttpFallback = true;
  return endpoint;
}

/** Endpoints when there is no configuration at all: just the upstream. */
export function defaultEndpoints(host: string, options: HostsOptions = {}): RegistryEndpoint[] {
  return [defaultEndpoint(host, options)];
}

function parseEntry(
  file: string,
  where: string,
  server: string | undefined,
  config: TomlTable,
  baseDir: string,
  registry: string,
  options: HostsOptions,
  mirror: boolean,
): RegistryEndpoint {
  const fail = (reason: string): never => {
    throw new HostsConfigError(file, `${where}: ${reason}`);
  };
  const overridePath = config['override_path'];
  if (overridePath !== undefined && typeof overridePath !== 'boolean') fail('"override_path" must be a boolean');

  let endpoint: RegistryEndpoint;
  if (server === undefined) {
    endpoint = defaultEndpoint(registry, options);
  } else {
    const given = /^([a-z][a-z0-9+.-]*):\/\//i.exec(server);
    if (given !== null && !/^https?$/i.test(given[1]!)) fail(`unsupported scheme in ${JSON.stringify(server)}`);
    const withScheme = given !== null ? server : `https://${server}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      return fail(`invalid URL ${JSON.stringify(server)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`unsupported scheme in ${JSON.stringify(server)}`);
    if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') {
      fail(`${JSON.stringify(server)} must not have credentials, a query or a fragment`);
    }
    let path = u.pathname.replace(/\/+$/, '');
    if (overridePath !== true && !path.endsWith('/v2')) path = `${path}/v2`;
    const scheme = u.protocol === 'http:' ? 'http' : 'https';
    endpoint = {
      url: `${scheme}://${u.host}${path}`,
      scheme,
      host: u.host,
      path,
      capabilities: [...ALL_CAPABILITIES],
      tls: { skipVerify: false, caFiles: [], clientCerts: [] },
      headers: {},
      mirror,
    };
  }
  endpoint.source = file;

  const capabilities = config['capabilities'];
  if (capabilities !== undefined) {
    if (!Array.isArray(capabilities) || capabilities.some((c) => typeof c !== 'string')) {
      fail('"capabilities" must be an array of strings');
    }
    const caps = new Set<Capability>();
    for (const c of capabilities as string[]) {
      const lower = c.toLowerCase();
      if (lower !== 'pull' && lower !== 'resolve' && lower !== 'push') fail(`unknown capability ${JSON.stringify(c)}`);
      caps.add(lower as Capability);
    }
    // An empty list means the default (all), as in containerd.
    if (caps.size > 0) endpoint.capabilities = ALL_CAPABILITIES.filter((c) => caps.has(c));
  }

  const skipVerify = config['skip_verify'];
  if (skipVerify !== undefined) {
    if (typeof skipVerify !== 'boolean') fail('"skip_verify" must be a boolean');
    endpoint.tls.skipVerify = skipVerify as boolean;
  }

  const ca = config['ca'];
  if (ca !== undefined) {
    if (typeof ca === 'string') endpoint.tls.caFiles = [absolute(ca, baseDir)];
    else if (Array.isArray(ca) && ca.every((c) => typeof c === 'string')) {
      endpoint.tls.caFiles = (ca as string[]).map((c) => absolute(c, baseDir));
    } else fail('"ca" must be a path or a list of paths');
  }

  const client = config['client'];
  if (client !== undefined) {
    const pairs: ClientCertPair[] = [];
    if (typeof client === 'string') pairs.push({ cert: absolute(client, baseDir) });
    else if (Array.isArray(client)) {
      for (const entry of client) {
        if (typeof entry === 'string') pairs.push({ cert: absolute(entry, baseDir) });
        else if (Array.isArray(entry) && entry.length === 2 && entry.every((e) => typeof e === 'string')) {
          const [cert, key] = entry as [string, string];
          pairs.push(key === '' ? { cert: absolute(cert, baseDir) } : { cert: absolute(cert, baseDir), key: absolute(key, baseDir) });
        } else fail('"client" entries must be a path or a [cert, key] pair of paths');
      }
    } else fail('"client" must be a path, a list of paths or a list of [cert, key] pairs');
    endpoint.tls.clientCerts = pairs;
  }

  const header = config['header'];
  if (header !== undefined) {
    if (!isTable(header)) fail('"header" must be a table');
    for (const [name, value] of Object.entries(header as TomlTable)) {
      if (typeof value === 'string') endpoint.headers[name] = [value];
      else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) endpoint.headers[name] = value as string[];
      else fail(`header ${JSON.stringify(name)} must be a string or a list of strings`);
    }
  }

  return endpoint;
}

/**
 * Parses the text of a hosts.toml for `registry` (the reference's domain). `baseDir` is the host
 * directory relative paths are resolved against; `file` is used in error messages.
 * Returns mirrors in file order, then the upstream server.
 */
export function parseHostsToml(
  text: string,
  registry: string,
  baseDir: string,
  options: HostsOptions = {},
  file = join(baseDir, 'hosts.toml'),
): RegistryEndpoint[] {
  let doc: TomlTable;
  try {
    doc = parseToml(text) as TomlTable;
  } catch (err) {
    throw new HostsConfigError(file, `invalid TOML: ${(err as Error).message}`, { cause: err });
  }
  const endpoints: RegistryEndpoint[] = [];
  const hosts = doc['host'];
  if (hosts !== undefined) {
    if (!isTable(hosts)) throw new HostsConfigError(file, '"host" must be a table of [host."<url>"] sections');
    for (const [url, config] of Object.entries(hosts)) {
      if (!isTable(config)) throw new HostsConfigError(file, `host ${JSON.stringify(url)} must be a table`);
      endpoints.push(parseEntry(file, `host ${JSON.stringify(url)}`, url, config, baseDir, registry, options, true));
    }
  }
  const server = doc['server'];
  if (server !== undefined && (typeof server !== 'string' || server === '')) {
    throw new HostsConfigError(file, '"server" must be a non-empty string');
  }
  endpoints.push(parseEntry(file, 'server', server as string | undefined, doc, baseDir, registry, options, false));
  return endpoints;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
}

/** The directories looked at for a registry host, in order. */
export function hostDirCandidates(configDir: string, host: string): string[] {
  const out = [join(configDir, host)];
  const colon = host.lastIndexOf(':');
  if (colon > 0 && !host.endsWith(']')) out.push(join(configDir, `${host.slice(0, colon)}_${host.slice(colon + 1)}_`));
  out.push(join(configDir, '_default'));
  return out;
}

/** The host directory used for `host`, or undefined when none exists. */
export async function findHostDir(configDir: string, host: string): Promise<string | undefined> {
  if (host === '' || host.includes('/') || host.includes('\\') || host === '.' || host === '..') {
    throw new HostsConfigError(configDir, `invalid registry host ${JSON.stringify(host)}`);
  }
  for (const dir of hostDirCandidates(configDir, host)) {
    if (await isDirectory(dir)) return dir;
  }
  return undefined;
}

/** Docker's certs.d layout: `*.crt` CAs, `*.cert` (+ same-named `*.key`) client certificates. */
async function loadCertDir(dir: string, registry: string, options: HostsOptions): Promise<RegistryEndpoint[]> {
  const endpoint = defaultEndpoint(registry, options);
  endpoint.source = dir;
  const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
  for (const name of names) {
    if (name.endsWith('.crt')) endpoint.tls.caFiles.push(join(dir, name));
    if (name.endsWith('.cert')) {
      const key = `${name.slice(0, -'.cert'.length)}.key`;
      endpoint.tls.clientCerts.push(names.includes(key) ? { cert: join(dir, name), key: join(dir, key) } : { cert: join(dir, name) });
    }
  }
  return [endpoint];
}

/**
 * The ordered endpoints to try for a registry host (the reference's domain, e.g. `docker.io`):
 * mirrors first, then the upstream. Reads the configuration on every call, so edits apply
 * without a restart (as in containerd).
 */
export async function loadEndpoints(host: string, options: HostsOptions = {}): Promise<RegistryEndpoint[]> {
  if (options.configDir === undefined || options.configDir === '') return defaultEndpoints(host, options);
  const dir = await findHostDir(options.configDir, host);
  if (dir === undefined) return defaultEndpoints(host, options);
  const file = join(dir, 'hosts.toml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return loadCertDir(dir, host, options);
    throw new HostsConfigError(file, (err as Error).message, { cause: err });
  }
  if (text.trim() === '') return loadCertDir(dir, host, options);
  return parseHostsToml(text, host, dir, options, file);
}
