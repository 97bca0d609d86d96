// A private containerd for crisp's dev mode and for every integration test: writes a config v2
// TOML whose root, state and sockets all live under one directory, spawns containerd with its
// output in a log file, and waits until the Version gRPC call answers.
//
// Only stop()/kill()/restart() touch the containerd process itself. The runc shims it started
// outlive it (that is how containerd works: a restarted containerd reconnects to them); call
// cleanupAll() to kill its tasks and shims and unmount what they left behind (tests do, dev mode
// need not).

import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createChannel, createClient } from 'nice-grpc';
import { version } from '@crisp/api';
import { cleanupContainerdLeftovers } from './cleanup';

export interface ManagedContainerdCriConfig {
  cniBinDir: string;
  cniConfDir: string;
  sandboxImage: string;
  /** Registries (host:port) the CRI plugin may pull from over plain HTTP. */
  insecureRegistries?: string[];
}

export interface ManagedContainerdOptions {
  /** Root for root/, state/, config.toml, containerd.log and (if short enough) the sockets. */
  dir: string;
  /** containerd binary; default `containerd` on PATH. */
  binary?: string;
  /** Default false: `io.containerd.grpc.v1.cri` is disabled. Benchmarks enable it. */
  enableCri?: boolean;
  criConfig?: ManagedContainerdCriConfig;
  /** containerd's log level (`debug`, `info`, ...); default `info`. */
  logLevel?: string;
  /** How long start()/restart() wait for Version to answer; default 30 s. */
  startTimeoutMs?: number;
  /** Extra plugins to disable (the useless snapshotters aufs, btrfs, devmapper, zfs always are). */
  disabledPlugins?: string[];
  /** Extra environment for the containerd process. */
  env?: Record<string, string>;
}

export interface ManagedContainerd {
  /** Unix socket path of containerd's gRPC API (no `unix://` prefix). */
  address: string;
  dir: string;
  /** pid of the running containerd, undefined while it is not running. */
  readonly pid: number | undefined;
  configPath: string;
  logPath: string;
  /** Set when `dir` was too long for unix socket paths and the sockets live elsewhere. */
  socketDir: string;
  /** Human-readable notes about the setup (e.g. the socket fallback). Also written to the log. */
  notes: string[];
  /** containerd's version string, from the last successful start. */
  readonly version: string;
  /** SIGTERM, wait for exit, SIGKILL after 10 s. Containers and shims keep running. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<void>;
  /** Start again with the same config and dirs (stops it first if it is running). */
  restart(): Promise<void>;
  /**
   * Kill every task (via the API while containerd runs), stop containerd, kill leftover shims of
   * this address and their processes, delete runc state, unmount everything under dir/socketDir.
   * Removes a fallback socketDir, but not dir.
   */
  cleanupAll(): Promise<void>;
}

/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL). */
export const MAX_UNIX_SOCKET_PATH = 107;
/** Where the sockets go when `dir` is too long for them. */
export const SOCKET_FALLBACK_ROOT = '/run/crisp-containerd';

const ALWAYS_DISABLED = [
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
];
const CRI_PLUGIN = 'io.containerd.grpc.v1.cri';
// The longest socket name we put in the socket dir.
const LONGEST_SOCKET_NAME = 'containerd.sock.ttrpc';

export interface ManagedContainerdPaths {
  dir: string;
  root: string;
  state: string;
  configPath: string;
  logPath: string;
  socketDir: string;
  address: string;
  ttrpcAddress: string;
  debugAddress: string;
  /** True when the sockets could not live in `dir`. */
  socketFallback: boolean;
}

/** Pure: where everything of a managed containerd lives. */
export function containerdPaths(opts: Pick<ManagedContainerdOptions, 'dir'>): ManagedContainerdPaths {
  const dir = path.resolve(opts.dir);
  let socketDir = dir;
  let socketFallback = false;
  if (Buffer.byteLength(path.join(dir, LONGEST_SOCKET_NAME)) > MAX_UNIX_SOCKET_PATH) {
    const hash = createHash('sha256').update(dir).digest('hex').slice(0, 16);
    socketDir = path.join(SOCKET_FALLBACK_ROOT, hash);
    socketFallback = true;
  }
  return {
    dir,
    root: path.join(dir, 'root'),
    state: path.join(dir, 'state'),
    configPath: path.join(dir, 'config.toml'),
    logPath: path.join(dir, 'containerd.log'),
    socketDir,
    address: path.join(socketDir, 'containerd.sock'),
    ttrpcAddress: path.join(socketDir, 'containerd.sock.ttrpc'),
    debugAddress: path.join(socketDir, 'debug.sock'),
    socketFallback,
  };
}

function tomlString(s: string): string {
  // JSON string escapes (\" \\ \n \uXXXX) are valid TOML basic-string escapes.
  return JSON.stringify(s);
}

function tomlArray(items: string[]): string {
  return `[${items.map(tomlString).join(', ')}]`;
}

/** Pure: the containerd config (version 2) for these options. */
export function containerdConfigToml(opts: ManagedContainerdOptions): string {
  const p = containerdPaths(opts);
  const disabled = [...ALWAYS_DISABLED, ...(opts.disabledPlugins ?? [])];
  if (!opts.enableCri) disabled.push(CRI_PLUGIN);
  const uniqueDisabled = [...new Set(disabled)].filter((d) => !(opts.enableCri && d === CRI_PLUGIN));
  const lines: string[] = [
    '# Written by crisp (managed containerd); regenerated on every start.',
    'version = 2',
    `root = ${tomlString(p.root)}`,
    `state = ${tomlString(p.state)}`,
    'oom_score = 0',
    `disabled_plugins = ${tomlArray(uniqueDisabled)}`,
    '',
    '[grpc]',
    `  address = ${tomlString(p.address)}`,
    '  uid = 0',
    '  gid = 0',
    '',
    '[ttrpc]',
    `  address = ${tomlString(p.ttrpcAddress)}`,
    '',
    '[debug]',
    `  address = ${tomlString(p.debugAddress)}`,
    `  level = ${tomlString(opts.logLevel ?? 'info')}`,
    '',
    '[plugins]',
    '  [plugins."io.containerd.internal.v1.opt"]',
    `    path = ${tomlString(path.join(p.dir, 'opt'))}`,
  ];
  if (opts.enableCri) {
    const cri = opts.criConfig;
    if (!cri) throw new Error('managed containerd: enableCri needs criConfig (cniBinDir, cniConfDir, sandboxImage)');
    const k = '  [plugins."io.containerd.grpc.v1.cri"';
    lines.push(
      `${k}]`,
      `    sandbox_image = ${tomlString(cri.sandboxImage)}`,
      '    stream_server_address = "127.0.0.1"',
      '    stream_server_port = "0"',
      '    enable_selinux = false',
      '    disable_apparmor = true',
      // No CAP_SYS_RESOURCE on some hosts: runc cannot lower oom_score_adj below its parent's.
      '    restrict_oom_score_adj = true',
      `${k}.cni]`,
      `    bin_dir = ${tomlString(cri.cniBinDir)}`,
      `    conf_dir = ${tomlString(cri.cniConfDir)}`,
      `${k}.containerd]`,
      '    snapshotter = "overlayfs"',
      '    default_runtime_name = "runc"',
      `${k}.containerd.runtimes.runc]`,
      '    runtime_type = "io.containerd.runc.v2"',
      `${k}.containerd.runtimes.runc.options]`,
      '    SystemdCgroup = false',
    );
    for (const host of cri.insecureRegistries ?? []) {
      lines.push(
        `${k}.registry.mirrors.${tomlString(host)}]`,
        `    endpoint = ${tomlArray([`http://${host}`])}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

// One process-wide exit hook: containerds still running when the parent exits normally get a
// SIGTERM (they are in their own process group, so a Ctrl-C does not reach them directly).
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of liveChildren) {
        try {
          if (c.pid !== undefined) process.kill(c.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last `maxBytes` of a file, or '' if it cannot be read. */
export function tailFile(file: string, maxBytes = 4096): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, maxBytes);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function canConnect(socketPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(socketPath);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** One Version call over a fresh channel; resolves to the version or throws. */
export async function containerdVersion(address: string, timeoutMs = 2000): Promise<string> {
  const channel = createChannel(`unix://${address}`);
  try {
    const client = createClient(version.VersionDefinition, channel);
    const res = await client.version({}, { signal: AbortSignal.timeout(timeoutMs) });
    return res.version;
  } finally {
    channel.close();
  }
}

/** Waits for a child process to exit; false on timeout. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    child.ref(); // keep the loop alive while we wait
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

class ManagedContainerdProcess implements ManagedContainerd {
  readonly address: string;
  readonly dir: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly socketDir: string;
  readonly notes: string[] = [];
  private child: ChildProcess | undefined;
  private versionString = '';
  private readonly paths: ManagedContainerdPaths;

  constructor(private readonly opts: ManagedContainerdOptions) {
    this.paths = containerdPaths(opts);
    this.address = this.paths.address;
    this.dir = this.paths.dir;
    this.configPath = this.paths.configPath;
    this.logPath = this.paths.logPath;
    this.socketDir = this.paths.socketDir;
    if (this.paths.socketFallback) {
      this.notes.push(
        `dir ${this.dir} is too long for unix socket paths (max ${MAX_UNIX_SOCKET_PATH} bytes); ` +
          `sockets are in ${this.socketDir}`,
      );
    }
  }

  get pid(): number | undefined {
    const c = this.child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  get version(): string {
    return this.versionString;
  }

  async start(): Promise<void> {
    const p = this.paths;
    for (const d of [p.dir, p.root, p.state, p.socketDir]) fs.mkdirSync(d, { recursive: true, mode: 0o711 });
    fs.writeFileSync(p.configPath, containerdConfigToml(this.opts));
    // Stale sockets from a killed containerd would make the connect check lie.
    for (const s of [p.address, p.ttrpcAddress, p.debugAddress]) fs.rmSync(s, { force: true });

    const logFd = fs.openSync(p.logPath, 'a');
    let child: ChildProcess;
    try {
      const header = [`--- crisp: starting containerd at ${new Date().toISOString()}`, ...this.notes.map((n) => `--- crisp: ${n}`)];
      fs.writeSync(logFd, header.join('\n') + '\n');
      child = spawn(this.opts.binary ?? 'containerd', ['--config', p.configPath], {
        cwd: p.dir,
        detached: true,
        stdio: ['ignore', logFd, logFd],
        env: { ...process.env, ...this.opts.env },
      });
    } finally {
      fs.closeSync(logFd);
    }
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    this.child = child;
    child.unref();
    trackChild(child);

    const timeoutMs = this.opts.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let lastError = 'socket not accepting connections';
    for (;;) {
      if (spawnError) throw this.startError(`could not spawn ${this.opts.binary ?? 'containerd'}: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw this.startError(`containerd exited during startup (code ${child.exitCode}, signal ${child.signalCode})`);
      }
      if (await canConnect(p.address, 500)) {
        try {
          this.versionString = await containerdVersion(p.address, 2000);
          return;
        } catch (err) {
          lastError = `Version call failed: ${(err as Error).message}`;
        }
      }
      if (Date.now() > deadline) {
        const pid = child.pid;
        try {
          if (pid !== undefined) process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
        throw this.startError(`containerd did not answer Version on ${p.address} within ${timeoutMs} ms (${lastError})`);
      }
      await sleep(50);
    }
  }

  private startError(msg: string): Error {
    return new Error(`${msg}\nconfig: ${this.configPath}\n--- tail of ${this.logPath} ---\n${tailFile(this.logPath)}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.pid === undefined) return;
    child.kill('SIGTERM');
    if (!(await waitExit(child, 10_000))) {
      child.kill('SIGKILL');
      await waitExit(child, 10_000);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || this.pid === undefined) return;
    child.kill('SIGKILL');
    await waitExit(child, 10_000);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async cleanupAll(): Promise<void> {
    await cleanupContainerdLeftovers({
      address: this.address,
      running: this.pid !== undefined,
      stop: () => this.stop(),
      state: this.paths.state,
      mountRoots: [...new Set([this.dir, this.socketDir])],
    });
    // A fallback socket dir is ours alone (only sockets live there).
    if (this.paths.socketFallback) fs.rmSync(this.socketDir, { recursive: true, force: true });
  }
}

/** Writes the config, starts containerd and waits until its Version call answers. */
export async function startManagedContainerd(opts: ManagedContainerdOptions): Promise<ManagedContainerd> {
  const managed = new ManagedContainerdProcess(opts);
  await managed.start();
  return managed;
}
