// crisp's configuration: its shape, defaults, and validation with errors that name the bad key.
import { parseListenAddress } from '@crisp/metrics-exporter';

export type CgroupDriver = 'systemd' | 'cgroupfs';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type ManagedMode = 'auto' | 'always' | 'never';

export interface RuntimeHandlerConfig {
  /** containerd runtime type, e.g. io.containerd.runc.v2 */
  runtimeType: string;
  /** runc binary the shim runs (empty: the shim's default) */
  binaryName: string;
  /** runc's SystemdCgroup option; follows cgroup_driver when unset */
  systemdCgroup?: boolean;
}

export interface CrispConfig {
  /** Unix socket kubelet and crictl connect to. */
  listen: string;
  /** Where crisp keeps per-sandbox files (hosts, resolv.conf, FIFOs) and a private containerd in dev mode. */
  stateDir: string;
  logLevel: LogLevel;
  cgroupDriver: CgroupDriver;
  sandboxImage: string;
  /** The handler used when a pod names none. */
  defaultRuntimeHandler: string;
  runtimes: Record<string, RuntimeHandlerConfig>;
  containerd: {
    address: string;
    namespace: string;
    root: string;
    snapshotter: string;
    /** auto: start a private containerd when none answers and no address was configured. */
    managed: ManagedMode;
    binary: string;
  };
  cni: {
    binDirs: string[];
    confDir: string;
    /** A conflist template rendered into conf_dir when kubelet sends the pod CIDR (UpdateRuntimeConfig). */
    confTemplate: string;
  };
  registry: {
    /** containerd hosts.toml layout: <configPath>/<host>/hosts.toml */
    configPath: string;
    maxConcurrentDownloads: number;
    /** a pull that makes no progress for this long is cancelled */
    pullProgressTimeoutSeconds: number;
  };
  streaming: {
    address: string;
    port: number;
    tlsCertFile: string;
    tlsKeyFile: string;
    tokenTtlSeconds: number;
  };
  metrics: {
    /** host:port of the Prometheus endpoint (/metrics, /healthz); empty: off. */
    address: string;
  };
}

export const DEFAULT_CONFIG: CrispConfig = {
  listen: '/run/crisp/crisp.sock',
  stateDir: '/var/lib/crisp',
  logLevel: 'info',
  cgroupDriver: 'cgroupfs',
  sandboxImage: 'registry.k8s.io/pause:3.10',
  defaultRuntimeHandler: 'runc',
  runtimes: {
    runc: { runtimeType: 'io.containerd.runc.v2', binaryName: '' },
  },
  containerd: {
    address: '/run/containerd/containerd.sock',
    namespace: 'k8s.io',
    root: '/var/lib/containerd',
    snapshotter: 'overlayfs',
    managed: 'auto',
    binary: 'containerd',
  },
  cni: {
    binDirs: ['/opt/cni/bin', '/usr/lib/cni'],
    confDir: '/etc/cni/net.d',
    confTemplate: '',
  },
  registry: {
    configPath: '/etc/containerd/certs.d',
    maxConcurrentDownloads: 3,
    pullProgressTimeoutSeconds: 60,
  },
  streaming: {
    address: '127.0.0.1',
    port: 0,
    tlsCertFile: '',
    tlsKeyFile: '',
    tokenTtlSeconds: 60,
  },
  metrics: {
    address: '',
  },
};

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`config: ${key}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Raw = Record<string, unknown>;

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** A reader over one table of the raw (TOML) config that records which keys were consumed. */
class Table {
  private readonly seen = new Set<string>();
  constructor(
    private readonly raw: Raw,
    private readonly prefix: string,
  ) {}

  private key(k: string): string {
    return this.prefix ? `${this.prefix}.${k}` : k;
  }

  private get(k: string): unknown {
    this.seen.add(k);
    return this.raw[k];
  }

  string(k: string, fallback: string, opts: { nonEmpty?: boolean; absolutePath?: boolean } = {}): string {
    const v = this.get(k);
    if (v === undefined) return fallback;
    if (typeof v !== 'string') throw new ConfigError(this.key(k), `must be a string, got ${describe(v)}`);
    if (opts.nonEmpty && v === '') throw new ConfigError(this.key(k), 'must not be empty');
    if (opts.absolutePath && v !== '' && !v.startsWith('/')) {
      throw new ConfigError(this.key(k), `must be an absolute path, got "${v}"`);
    }
    return v;
  }

  oneOf<T extends string>(k: string, fallback: T, allowed: readonly T[]): T {
    const v = this.string(k, fallback);
    if (!allowed.includes(v as T)) {
      throw new ConfigError(this.key(k), `must be one of ${allowed.join(', ')}, got "${v}"`);
    }
    return v as T;
  }

  int(k: string, fallback: number, min: number, max: number): number {
    const v = this.get(k);
    if (v === undefined) return fallback;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new ConfigError(this.key(k), `must be an integer, got ${describe(v)}`);
    if (n < min || n > max) throw new ConfigError(this.key(k), `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  bool(k: string): boolean | undefined {
    const v = this.get(k);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new ConfigError(this.key(k), `must be true or false, got ${describe(v)}`);
    return v;
  }

  stringList(k: string, fallback: string[]): string[] {
    const v = this.get(k);
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      throw new ConfigError(this.key(k), `must be a list of strings, got ${describe(v)}`);
    }
    return v as string[];
  }

  table(k: string): Table {
    const v = this.get(k);
    if (v === undefined) return new Table({}, this.key(k));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new ConfigError(this.key(k), `must be a table, got ${describe(v)}`);
    }
    return new Table(v as Raw, this.key(k));
  }

  entries(): [string, unknown][] {
    return Object.entries(this.raw);
  }

  /** Call after reading: any key not read is a typo or an unsupported option. */
  rejectUnknown(): void {
    for (const k of Object.keys(this.raw)) {
      if (!this.seen.has(k)) throw new ConfigError(this.key(k), 'unknown key');
    }
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a table';
  return `${typeof v} ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`;
}

/**
 * Validates a parsed config file (TOML keys in snake_case) on top of `base`.
 * Throws ConfigError naming the first bad key.
 */
export function validateConfig(raw: Raw, base: CrispConfig = DEFAULT_CONFIG): CrispConfig {
  const t = new Table(raw, '');
  const cfg: CrispConfig = {
    listen: t.string('listen', base.listen, { nonEmpty: true, absolutePath: true }),
    stateDir: t.string('state_dir', base.stateDir, { nonEmpty: true, absolutePath: true }),
    logLevel: t.oneOf('log_level', base.logLevel, LOG_LEVELS),
    cgroupDriver: t.oneOf<CgroupDriver>('cgroup_driver', base.cgroupDriver, ['systemd', 'cgroupfs']),
    sandboxImage: t.string('sandbox_image', base.sandboxImage, { nonEmpty: true }),
    defaultRuntimeHandler: t.string('default_runtime_handler', base.defaultRuntimeHandler, { nonEmpty: true }),
    runtimes: { ...base.runtimes },
    containerd: { ...base.containerd },
    cni: { ...base.cni },
    registry: { ...base.registry },
    streaming: { ...base.streaming },
    metrics: { ...base.metrics },
  };

  const c = t.table('containerd');
  cfg.containerd = {
    address: c.string('address', base.containerd.address, { nonEmpty: true, absolutePath: true }),
    namespace: c.string('namespace', base.containerd.namespace, { nonEmpty: true }),
    root: c.string('root', base.containerd.root, { nonEmpty: true, absolutePath: true }),
    snapshotter: c.string('snapshotter', base.containerd.snapshotter, { nonEmpty: true }),
    managed: c.oneOf<ManagedMode>('managed', base.containerd.managed, ['auto', 'always', 'never']),
    binary: c.string('binary', base.containerd.binary, { nonEmpty: true }),
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(cfg.containerd.namespace)) {
    throw new ConfigError('containerd.namespace', `"${cfg.containerd.namespace}" is not a valid containerd namespace`);
  }
  c.rejectUnknown();

  const n = t.table('cni');
  cfg.cni = {
    binDirs: n.stringList('bin_dirs', base.cni.binDirs),
    confDir: n.string('conf_dir', base.cni.confDir, { nonEmpty: true, absolutePath: true }),
    confTemplate: n.string('conf_template', base.cni.confTemplate, { absolutePath: true }),
  };
  n.rejectUnknown();

  const r = t.table('registry');
  cfg.registry = {
    configPath: r.string('config_path', base.registry.configPath, { absolutePath: true }),
    maxConcurrentDownloads: r.int('max_concurrent_downloads', base.registry.maxConcurrentDownloads, 1, 64),
    pullProgressTimeoutSeconds: r.int('pull_progress_timeout_seconds', base.registry.pullProgressTimeoutSeconds, 1, 3600),
  };
  r.rejectUnknown();

  const s = t.table('streaming');
  cfg.streaming = {
    address: s.string('address', base.streaming.address, { nonEmpty: true }),
    port: s.int('port', base.streaming.port, 0, 65535),
    tlsCertFile: s.string('tls_cert_file', base.streaming.tlsCertFile, { absolutePath: true }),
    tlsKeyFile: s.string('tls_key_file', base.streaming.tlsKeyFile, { absolutePath: true }),
    tokenTtlSeconds: s.int('token_ttl_seconds', base.streaming.tokenTtlSeconds, 1, 3600),
  };
  if (!cfg.streaming.tlsCertFile !== !cfg.streaming.tlsKeyFile) {
    throw new ConfigError('streaming', 'tls_cert_file and tls_key_file must be set together');
  }
  s.rejectUnknown();

  const mt = t.table('metrics');
  cfg.metrics = { address: mt.string('address', base.metrics.address) };
  if (cfg.metrics.address !== '') {
    try {
      parseListenAddress(cfg.metrics.address);
    } catch {
      throw new ConfigError('metrics.address', `must be host:port (e.g. 127.0.0.1:9101), got "${cfg.metrics.address}"`);
    }
  }
  mt.rejectUnknown();

  const rt = t.table('runtimes');
  for (const [name] of rt.entries()) {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
      throw new ConfigError(`runtimes.${name}`, 'a runtime handler name must be a DNS label');
    }
    const h = rt.table(name);
    const prev = base.runtimes[name];
    const systemdCgroup = h.bool('systemd_cgroup') ?? prev?.systemdCgroup;
    cfg.runtimes[name] = {
      runtimeType: h.string('runtime_type', prev?.runtimeType ?? 'io.containerd.runc.v2', { nonEmpty: true }),
      binaryName: h.string('binary_name', prev?.binaryName ?? ''),
      ...(systemdCgroup === undefined ? {} : { systemdCgroup }),
    };
    h.rejectUnknown();
  }
  rt.rejectUnknown();
  if (!cfg.runtimes[cfg.defaultRuntimeHandler]) {
    throw new ConfigError('default_runtime_handler', `"${cfg.defaultRuntimeHandler}" is not a configured runtime (runtimes.${cfg.defaultRuntimeHandler})`);
  }

  t.rejectUnknown();
  return cfg;
}

/** The config as TOML-shaped plain data (snake_case), for `crisp config default` and Status verbose info. */
export function configToRaw(cfg: CrispConfig): Raw {
  return {
    listen: cfg.listen,
    state_dir: cfg.stateDir,
    log_level: cfg.logLevel,
    cgroup_driver: cfg.cgroupDriver,
    sandbox_image: cfg.sandboxImage,
    default_runtime_handler: cfg.defaultRuntimeHandler,
    containerd: {
      address: cfg.containerd.address,
      namespace: cfg.containerd.namespace,
      root: cfg.containerd.root,
      snapshotter: cfg.containerd.snapshotter,
      managed: cfg.containerd.managed,
      binary: cfg.containerd.binary,
    },
    cni: { bin_dirs: cfg.cni.binDirs, conf_dir: cfg.cni.confDir, conf_template: cfg.cni.confTemplate },
    registry: {
      config_path: cfg.registry.configPath,
      max_concurrent_downloads: cfg.registry.maxConcurrentDownloads,
      pull_progress_timeout_seconds: cfg.registry.pullProgressTimeoutSeconds,
    },
    streaming: {
      address: cfg.streaming.address,
      port: cfg.streaming.port,
      tls_cert_file: cfg.streaming.tlsCertFile,
      tls_key_file: cfg.streaming.tlsKeyFile,
      token_ttl_seconds: cfg.streaming.tokenTtlSeconds,
    },
    metrics: { address: cfg.metrics.address },
    runtimes: Object.fromEntries(
      Object.entries(cfg.runtimes).map(([name, h]) => [
        name,
        {
          runtime_type: h.runtimeType,
          binary_name: h.binaryName,
          ...(h.systemdCgroup === undefined ? {} : { systemd_cgroup: h.systemdCgroup }),
        },
      ]),
    ),
  };
}
