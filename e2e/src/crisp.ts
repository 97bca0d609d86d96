// Runs the real built crisp binary (packages/server/dist/cli.js) as a child process and hands
// out CRI clients for it. Ready when a CRI Version call answers.

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Channel, Client, createChannel, createClient } from 'nice-grpc';
import { cri, health } from '@crisp/api';
import { unmountUnder } from '@crisp/server';
import { onCleanup } from './cleanup';
import { hasExited, killOnExit, sleep, tail, waitChildExit } from './proc';
import { makeTempDir } from './tmp';

export interface StartCrispOptions {
  containerdAddress: string;
  /** containerd namespace crisp works in; default `k8s.io`. */
  namespace?: string;
  /** Where the socket, state, config and log go; default a fresh /tmp/crisp-e2e-crisp-XXXXXX. */
  dir?: string;
  /** TOML text written to <dir>/config.toml (an empty file when not given: no /etc/crisp). */
  config?: string;
  /** Extra CLI arguments after the fixed ones. */
  args?: string[];
  /** Extra environment (CRISP_* variables of the test process are not inherited). */
  env?: Record<string, string>;
  /** How long to wait for Version to answer; default 20 s. */
  readyTimeoutMs?: number;
  /** The CLI to run; default packages/server/dist/cli.js. */
  cliPath?: string;
}

export interface CriClients {
  channel: Channel;
  runtime: Client<cri.RuntimeServiceDefinition>;
  images: Client<cri.ImageServiceDefinition>;
  health: Client<health.HealthDefinition>;
  close(): void;
}

export interface CrispProcess {
  /** The CRI unix socket path (no `unix://`). */
  socket: string;
  dir: string;
  stateDir: string;
  configPath: string;
  logPath: string;
  /** pid of the running crisp, undefined while it is not running. */
  readonly pid: number | undefined;
  runtime: Client<cri.RuntimeServiceDefinition>;
  images: Client<cri.ImageServiceDefinition>;
  health: Client<health.HealthDefinition>;
  /** SIGTERM, wait (15 s), then SIGKILL. Resolves with the exit code (null if killed by a signal). */
  stop(): Promise<number | null>;
  /** Send `signal` (default SIGKILL) and wait for the process to exit (10 s, else throw). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Send a signal without waiting (e.g. SIGHUP). */
  signal(signal: NodeJS.Signals): void;
  /** Start again with the same arguments (stops it first if running); the clients keep working. */
  restart(): Promise<void>;
  /** Resolves with the exit of the current process. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** crisp's log (stdout and stderr) so far. */
  logs(): Promise<string>;
}

/** Channel options for tests: reconnect fast after a restart of the server. */
export const TEST_CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.min_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 500,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
};

/** Node flags for every crisp the tests and benches start, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile one. */
const NODE_ARGS = (process.env['CRISP_E2E_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');

/** CRI clients (runtime, image, health) over one channel to `socketPath`. */
export function criClient(socketPath: string): CriClients {
  const channel = createChannel(`unix://${socketPath}`, undefined, TEST_CHANNEL_OPTIONS);
  return {
    channel,
    runtime: createClient(cri.RuntimeServiceDefinition, channel),
    images: createClient(cri.ImageServiceDefinition, channel),
    health: createClient(health.HealthDefinition, channel),
    close: () => channel.close(),
  };
}

/** packages/server/dist/cli.js of this checkout. */
export function defaultCliPath(): string {
  return path.join(path.dirname(require.resolve('@crisp/server/package.json')), 'dist', 'cli.js');
}

export async function startCrisp(opts: StartCrispOptions): Promise<CrispProcess> {
  const cli = opts.cliPath ?? defaultCliPath();
  if (!fs.existsSync(cli)) throw new Error(`${cli} does not exist: build first (npx tsc -b)`);
  const dir = opts.dir ?? makeTempDir('crisp-e2e-crisp-');
  fs.mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, 'crisp.sock');
  const stateDir = path.join(dir, 'state');
  const configPath = path.join(dir, 'config.toml');
  const logPath = path.join(dir, 'crisp.log');
  fs.writeFileSync(configPath, opts.config ?? '');
  const args = [
    cli,
    'serve',
    '--listen',
    socket,
    '--containerd-address',
    opts.containerdAddress,
    '--containerd-namespace',
    opts.namespace ?? 'k8s.io',
    '--state-dir',
    stateDir,
    '--log-level',
    'debug',
    '--config',
    configPath,
    ...(opts.args ?? []),
  ];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('CRISP_')) env[k] = v;
  }
  Object.assign(env, opts.env);

  const clients = criClient(socket);
  let child: ChildProcess | undefined;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 20_000;

  const startError = (msg: string): Error =>
    new Error(`${msg}\ncommand: node ${args.join(' ')}\n--- tail of ${logPath} ---\n${tail(logPath)}`);

  const spawnAndWait = async (): Promise<void> => {
    const fd = fs.openSync(logPath, 'a');
    let c: ChildProcess;
    try {
      fs.writeSync(fd, `--- e2e: starting crisp at ${new Date().toISOString()}\n`);
      c = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: dir, env, stdio: ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    child = c;
    let spawnError: Error | undefined;
    c.once('error', (e) => (spawnError = e));
    killOnExit(c);
    const deadline = Date.now() + readyTimeoutMs;
    let lastError = '';
    for (;;) {
      if (spawnError) throw startError(`could not spawn crisp: ${spawnError.message}`);
      if (hasExited(c)) throw startError(`crisp exited during startup (code ${c.exitCode}, signal ${c.signalCode})`);
      if (fs.existsSync(socket)) {
        try {
          await clients.runtime.version({ version: 'v1' }, { signal: AbortSignal.timeout(1000) });
          return;
        } catch (err) {
          lastError = (err as Error).message;
        }
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw startError(`crisp did not answer CRI Version on ${socket} within ${readyTimeoutMs} ms${lastError ? ` (${lastError})` : ''}`);
      }
      await sleep(100);
    }
  };

  const running = (): ChildProcess | undefined => (child && !hasExited(child) ? child : undefined);

  const stop = async (): Promise<number | null> => {
    const c = running();
    if (!c) return child ? child.exitCode : null;
    c.kill('SIGTERM');
    if (!(await waitChildExit(c, 15_000))) {
      c.kill('SIGKILL');
      await waitChildExit(c, 10_000);
    }
    return c.exitCode;
  };

  onCleanup(`crisp in ${dir}`, async () => {
    clients.close();
    await stop();
    // Pods a test left behind keep their /dev/shm tmpfs mounted in crisp's state dir.
    await unmountUnder([dir]);
  });


  await spawnAndWait();

  return {
    socket,
    dir,
    stateDir,
    configPath,
    logPath,
    get pid() {
      return running()?.pid;
    },
    runtime: clients.runtime,
    images: clients.images,
    health: clients.health,
    stop,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      const c = running();
      if (!c) return;
      c.kill(signal);
      if (!(await waitChildExit(c, 10_000))) throw new Error(`crisp (pid ${c.pid}) did not exit within 10 s of ${signal}`);
    },
    signal(signal: NodeJS.Signals) {
      running()?.kill(signal);
    },
    async restart() {
      await stop();
      await spawnAndWait();
    },
    exited() {
      const c = child!;
      return new Promise((resolve) => {
        if (hasExited(c)) resolve({ code: c.exitCode, signal: c.signalCode });
        else c.once('exit', (code, signal) => resolve({ code, signal }));
      });
    },
    async logs() {
      return fs.promises.readFile(logPath, 'utf8').catch(() => '');
    },
  };
}
