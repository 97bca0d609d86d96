// A CNI executor, following the CNI spec (1.0.0 and 0.4.0 configs; 0.3.x and older tolerated) and
// libcni's behaviour where the spec leaves room:
//
// - ADD runs the list's plugins in order; each gets its config plus the list's `name` and
//   `cniVersion`, the previous plugin's result as `prevResult`, and a `runtimeConfig` holding only
//   the capability args its `capabilities` map asks for. The last result is cached (libcni's
//   `cniCacheV1` format: `<cacheDir>/results/<net>-<containerId>-<ifName>`), because DEL and CHECK
//   need it as `prevResult` and DEL needs the capability args (portmap deletes its rules from
//   them) long after kubelet's request is gone (e.g. after a crisp restart).
// - If ADD fails midway, DEL runs for the whole list so that nothing leaks (IPs, veths, iptables
//   rules of the plugins that did succeed), then the ADD error is rethrown.
// - DEL runs the plugins in reverse with the cached result as `prevResult` (from 0.4.0 on), then
//   drops the cache. It uses the config the ADD ran with (kept in the cache, as CRI-O does), so a
//   config edited while pods run still tears them down right.
// - CHECK runs in order with the cached result; skipped for `disableCheck` or versions < 0.4.0.
//
// Unlike libcni, the pod's `lo` is brought up here too (see ensureLoopback).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log';
import { CniNetworkConfig, CniPluginConfig, findPlugin } from './cni-config';
import { CniResult, compareCniVersions, parseCniResult } from './cni-result';
import { netnsExists } from './netns';

export { podIPs } from './cni-result';
export type { CniResult } from './cni-result';

export interface CniPortMapping {
  hostPort: number;
  containerPort: number;
  /** `tcp`, `udp` or `sctp`. */
  protocol: string;
  hostIP?: string;
}

/** The bandwidth plugin's capability: rates in bits/s, bursts in bits. */
export interface CniBandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** Runtime-supplied values, handed to a plugin only if its `capabilities` map names them. */
export interface CniCapabilityArgs {
  portMappings?: CniPortMapping[];
  bandwidth?: CniBandwidth;
  ips?: string[];
  [capability: string]: unknown;
}

export interface CniRuntimeConf {
  containerId: string;
  /** Path of the pod's network namespace. */
  netns: string;
  /** The pod-side interface, `eth0` for kubelet's pods. */
  ifName: string;
  /** CNI_ARGS, in this order: IgnoreUnknown, K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID. */
  args: Record<string, string>;
  capabilityArgs?: CniCapabilityArgs;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** A problem with a request or the result cache, not with a plugin. */
export class CniError extends Error {
  override name = 'CniError';
}

export type CniFailure = 'failed' | 'timeout' | 'aborted' | 'not-found' | 'bad-output';

/** A plugin invocation failed; `message` names the plugin, the command and the plugin's reason. */
export class CniPluginError extends CniError {
  override name = 'CniPluginError';
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly failure: CniFailure,
    /** What the plugin said (its `msg`), or what went wrong running it. */
    readonly msg: string,
    /** The spec's error code, when the plugin printed an error object. */
    readonly code?: number,
    readonly details?: string,
    readonly stderr?: string,
  ) {
    super(`CNI plugin ${plugin} failed (${command}): ${msg}${details ? `: ${details}` : ''}`);
  }
}

/** One entry of the result cache; the same layout as libcni's (config is base64 JSON, as Go writes []byte). */
export interface CniCacheEntry {
  kind: 'cniCacheV1';
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: CniCapabilityArgs;
  result?: Record<string, unknown>;
}

export interface ExecPluginRequest {
  /** The plugin type, for messages. */
  plugin: string;
  /** The executable. */
  file: string;
  command: CniCommand;
  stdin: Record<string, unknown>;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

export const DEFAULT_CNI_TIMEOUT_MS = 60_000;
const MAX_OUTPUT = 4 * 1024 * 1024;
/** DEL after a failed ADD runs even when the caller's signal fired (that may be why ADD failed). */
const CLEANUP_TIMEOUT_MS = 30_000;
/** libcni's rules for container ids and network names: they become file names in the cache. */
const ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Runs one plugin: stdin is its config, the outcome its stdout. Rejects with CniPluginError on a
 * non-zero exit (parsing the spec's `{code, msg, details}` error from stdout), on a timeout or an
 * abort (the plugin is SIGKILLed, with its own children: it runs in a process group of its own,
 * since e.g. bridge runs host-local as a child), or on output that is not JSON. Resolves undefined
 * for empty output (normal for DEL and CHECK).
 */
export function execPlugin(req: ExecPluginRequest): Promise<Obj | undefined> {
  const { plugin, command } = req;
  const fail = (failure: CniFailure, msg: string, extra: { code?: number; details?: string; stderr?: string } = {}) =>
    new CniPluginError(plugin, command, failure, msg, extra.code, extra.details, extra.stderr);
  if (req.signal?.aborted) return Promise.reject(fail('aborted', 'aborted before it started'));

  return new Promise((resolve, reject) => {
    const child = spawn(req.file, [], { env: req.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let settled = false;
    const stderrText = () => Buffer.concat(err).toString('utf8').trim();

    const finish = (e: Error | undefined, v?: Obj) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      if (e) reject(e);
      else resolve(v);
    };
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    // Rejected at once, not when the pipes close: a grandchild that escaped the group could hold
    // them open forever.
    const timer = setTimeout(() => {
      kill();
      finish(fail('timeout', `timed out after ${req.timeoutMs} ms`, { stderr: stderrText() }));
    }, req.timeoutMs);
    const onAbort = () => {
      kill();
      finish(fail('aborted', 'aborted', { stderr: stderrText() }));
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen <= MAX_OUTPUT) out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      errLen += b.length;
      if (errLen <= MAX_OUTPUT) err.push(b);
    });
    child.once('error', (e) => finish(fail('failed', `cannot run ${req.file}: ${e.message}`)));
    child.once('close', (code, sig) => {
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const stderr = stderrText();
      if (code !== 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(stdout);
        } catch {
          parsed = undefined;
        }
        if (isObj(parsed) && (typeof parsed['msg'] === 'string' || typeof parsed['code'] === 'number')) {
          return finish(
            fail('failed', typeof parsed['msg'] === 'string' && parsed['msg'] ? parsed['msg'] : `error code ${String(parsed['code'])}`, {
              ...(typeof parsed['code'] === 'number' ? { code: parsed['code'] } : {}),
              ...(typeof parsed['details'] === 'string' && parsed['details'] ? { details: parsed['details'] } : {}),
              stderr,
            }),
          );
        }
        const status = sig ? `killed by ${sig}` : `exit status ${code}`;
        return finish(fail('failed', [status, stderr || stdout].filter(Boolean).join(': '), { stderr }));
      }
      if (outLen > MAX_OUTPUT) return finish(fail('bad-output', `output larger than ${MAX_OUTPUT} bytes`, { stderr }));
      if (stdout === '') return finish(undefined, undefined);
      try {
        const v: unknown = JSON.parse(stdout);
        if (!isObj(v)) throw new Error('not a JSON object');
        finish(undefined, v);
      } catch (e) {
        finish(fail('bad-output', `invalid result: ${(e as Error).message}`, { stderr }));
      }
    });
    // A plugin may exit without reading all of stdin; EPIPE then is not our error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(req.stdin));
  });
}

/** CNI_ARGS: `K=V;K=V` in the record's order. */
function cniArgsString(args: Record<string, string>): string {
  return Object.entries(args)
    .map(([k, v]) => `${k}=${v}`)
    .join(';');
}

function cniEnv(command: CniCommand, containerId: string, netns: string, ifName: string, args: Record<string, string>, binDirs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  // The plugins need PATH (iptables, ip); inherited CNI_* variables must not leak in.
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CNI_')) env[k] = v;
  return {
    ...env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netns,
    CNI_IFNAME: ifName,
    CNI_ARGS: cniArgsString(args),
    CNI_PATH: binDirs.join(path.delimiter),
  };
}

/**
 * The stdin of one plugin of a list (spec "Deriving execution configuration from plugin
 * configuration"): its own config, the list's name and version, `prevResult` if any, and in
 * `runtimeConfig` only the capability args it declares (a plugin's own `runtimeConfig` is kept
 * when it gets none, like libcni).
 */
export function pluginStdin(
  plugin: CniPluginConfig,
  name: string,
  cniVersion: string,
  prevResult: Obj | undefined,
  capabilityArgs: CniCapabilityArgs | undefined,
): Obj {
  const conf: Obj = { ...plugin, name, cniVersion };
  if (prevResult !== undefined) conf['prevResult'] = prevResult;
  const caps = plugin['capabilities'];
  const runtimeConfig: Obj = {};
  if (isObj(caps) && capabilityArgs) {
    for (const [cap, on] of Object.entries(caps)) {
      if (on === true && capabilityArgs[cap] !== undefined) runtimeConfig[cap] = capabilityArgs[cap];
    }
  }
  if (Object.keys(runtimeConfig).length > 0) conf['runtimeConfig'] = runtimeConfig;
  return conf;
}

function validateRuntimeConf(rt: CniRuntimeConf): void {
  if (!ID_RE.test(rt.containerId)) throw new CniError(`invalid container id ${JSON.stringify(rt.containerId)}`);
  // The kernel's interface name rules (IFNAMSIZ, no '/', ':' or spaces), as libcni checks them.
  const n = rt.ifName;
  if (!n || n.length > 15 || n === '.' || n === '..' || /[/:\s]/.test(n)) throw new CniError(`invalid interface name ${JSON.stringify(n)}`);
}

export interface LoopbackOptions {
  /** CNI_CONTAINERID; the loopback plugin only needs it to be non-empty. */
  containerId?: string;
  args?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/**
 * Brings `lo` up in a pod's netns by running the `loopback` plugin's ADD, as containerd and CRI-O
 * do before the pod network (so 127.0.0.1 works in every pod, whatever the conflist holds).
 * There is no matching DEL: `lo` goes away with the namespace and leaves nothing on the host.
 * Version 0.3.1, the one every loopback plugin still in use understands (containerd uses it too).
 */
export async function ensureLoopback(netns: string, binDirs: string[], opts: LoopbackOptions = {}): Promise<void> {
  const file = await findPlugin('loopback', binDirs);
  if (!file) throw new CniPluginError('loopback', 'ADD', 'not-found', `plugin not found in ${binDirs.join(', ')}`);
  const containerId = opts.containerId ?? 'crisp-loopback';
  const started = Date.now();
  await execPlugin({
    plugin: 'loopback',
    file,
    command: 'ADD',
    stdin: { cniVersion: '0.3.1', name: 'cni-loopback', type: 'loopback' },
    env: cniEnv('ADD', containerId, netns, 'lo', opts.args ?? {}, binDirs),
    timeoutMs: opts.timeoutMs ?? DEFAULT_CNI_TIMEOUT_MS,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  opts.logger?.debug({ netns, ms: Date.now() - started }, 'loopback up');
}

/** Told of every network ADD and DEL (crisp's metrics). Module-wide: networks are built per call. */
export interface CniObserver {
  finished(command: 'ADD' | 'DEL', seconds: number, ok: boolean): void;
}

let cniObserver: CniObserver | undefined;

export function observeCni(observer: CniObserver | undefined): void {
  cniObserver = observer;
}

async function observed<T>(command: 'ADD' | 'DEL', fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    const out = await fn();
    cniObserver?.finished(command, (performance.now() - start) / 1000, true);
    return out;
  } catch (err) {
    cniObserver?.finished(command, (performance.now() - start) / 1000, false);
    throw err;
  }
}

export interface CniNetworkOptions {
  /** Per plugin invocation. */
  timeoutMs?: number;
  /**
   * Bring `lo` up (ensureLoopback) before the list on ADD when the list has no `loopback` plugin
   * of its own. Default true.
   */
  loopback?: boolean;
}

interface PluginList {
  cniVersion: string;
  disableCheck: boolean;
  plugins: CniPluginConfig[];
}

/** One CNI network (a conflist) that pods are added to and deleted from. */
export class CniNetwork {
  readonly name: string;
  private readonly timeoutMs: number;
  private readonly loopback: boolean;

  constructor(
    readonly config: CniNetworkConfig,
    readonly binDirs: string[],
    /** crisp's own CNI state dir, e.g. `<stateDir>/cni`; results go to `results/` in it. */
    readonly cacheDir: string,
    private readonly logger: Logger,
    opts: CniNetworkOptions = {},
  ) {
    if (!ID_RE.test(config.name)) throw new CniError(`invalid CNI network name ${JSON.stringify(config.name)}`);
    this.name = config.name;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_CNI_TIMEOUT_MS;
    this.loopback = opts.loopback ?? true;
  }

  /** Adds the pod to the network; returns the normalized result of the last plugin. */
  async add(rt: CniRuntimeConf, signal?: AbortSignal): Promise<CniResult> {
    return observed('ADD', () => this.addOnce(rt, signal));
  }

  private async addOnce(rt: CniRuntimeConf, signal?: AbortSignal): Promise<CniResult> {
    validateRuntimeConf(rt);
    const log = this.logger.child({ cniNetwork: this.name, containerId: rt.containerId });
    const list: PluginList = { cniVersion: this.config.cniVersion, disableCheck: this.config.disableCheck, plugins: this.config.plugins };
    if (this.loopback && !list.plugins.some((p) => p.type === 'loopback')) {
      await ensureLoopback(rt.netns, this.binDirs, { containerId: rt.containerId, args: rt.args, timeoutMs: this.timeoutMs, logger: log, ...(signal ? { signal } : {}) });
    }
    let prev: Obj | undefined;
    try {
      for (const plugin of list.plugins) {
        const out = await this.run(list, plugin, 'ADD', rt, rt.netns, prev, rt.capabilityArgs, signal);
        // The spec requires a result from ADD; a plugin printing nothing is taken as passing the
        // previous one through rather than failing a pod over it.
        if (out === undefined) log.warn({ plugin: plugin.type }, 'CNI plugin printed no result for ADD');
        else prev = out;
      }
      if (prev === undefined) throw new CniPluginError(list.plugins[list.plugins.length - 1]!.type, 'ADD', 'bad-output', 'no result');
      const result = parseCniResult(prev);
      await this.writeCache(rt, prev);
      return result;
    } catch (err) {
      await this.cleanupFailedAdd(list, rt, prev, log);
      throw err;
    }
  }

  /**
   * Removes the pod from the network; succeeds for a pod never added, deleted before, or whose
   * netns is gone: plugins then get an empty CNI_NETNS, which the spec's skeleton allows for DEL,
   * and still release what they hold on the host (bridge releases the IP through its IPAM before
   * it looks at the netns). Passing a path that exists but is no longer a namespace instead would
   * fail bridge 1.1.1 ("unknown FS magic"). On failure the cache stays for a retry.
   */
  async del(rt: CniRuntimeConf, signal?: AbortSignal): Promise<void> {
    return observed('DEL', () => this.delOnce(rt, signal));
  }

  private async delOnce(rt: CniRuntimeConf, signal?: AbortSignal): Promise<void> {
    validateRuntimeConf(rt);
    const log = this.logger.child({ cniNetwork: this.name, containerId: rt.containerId });
    const cached = await this.readCache(rt.containerId, rt.ifName, log);
    const list = this.listFor(cached, log);
    const prev = compareCniVersions(list.cniVersion, '0.4.0') >= 0 ? cached?.result : undefined;
    const capabilityArgs = mergeCapabilityArgs(cached?.capabilityArgs, rt.capabilityArgs);
    const netns = await this.liveNetns(rt.netns || cached?.netns || '');
    // Stop at the first failure, like libcni: e.g. releasing the IP while portmap's rules still
    // point at it would hand those rules to the next pod that gets the address.
    for (const plugin of [...list.plugins].reverse()) {
      await this.run(list, plugin, 'DEL', rt, netns, prev, capabilityArgs, signal);
    }
    await fs.rm(this.cacheFile(rt.containerId, rt.ifName), { force: true });
    log.debug({ netns: netns || '(gone)' }, 'CNI DEL done');
  }

  /**
   * CHECK: true when it ran and passed, false when the network does not support it
   * (`disableCheck`, or a version before 0.4.0). Throws if the plugins find a problem, or if the
   * pod was never added (there is no cached result to check against).
   */
  async check(rt: CniRuntimeConf, signal?: AbortSignal): Promise<boolean> {
    validateRuntimeConf(rt);
    const log = this.logger.child({ cniNetwork: this.name, containerId: rt.containerId });
    const cached = await this.readCache(rt.containerId, rt.ifName, log);
    const list = this.listFor(cached, log);
    if (list.disableCheck || compareCniVersions(list.cniVersion, '0.4.0') < 0) return false;
    if (!cached?.result) throw new CniError(`CNI CHECK of ${rt.containerId}: no cached ADD result in network ${this.name}`);
    const capabilityArgs = mergeCapabilityArgs(cached.capabilityArgs, rt.capabilityArgs);
    for (const plugin of list.plugins) {
      await this.run(list, plugin, 'CHECK', rt, rt.netns, cached.result, capabilityArgs, signal);
    }
    return true;
  }

  /** The cached ADD of a pod, if any. */
  async cachedResult(containerId: string, ifName: string): Promise<CniCacheEntry | undefined> {
    return this.readCache(containerId, ifName, this.logger);
  }

  cacheFile(containerId: string, ifName: string): string {
    return path.join(this.cacheDir, 'results', `${this.name}-${containerId}-${ifName}`);
  }

  private async run(
    list: PluginList,
    plugin: CniPluginConfig,
    command: CniCommand,
    rt: CniRuntimeConf,
    netns: string,
    prev: Obj | undefined,
    capabilityArgs: CniCapabilityArgs | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Obj | undefined> {
    const file = await findPlugin(plugin.type, this.binDirs);
    if (!file) throw new CniPluginError(plugin.type, command, 'not-found', `plugin not found in ${this.binDirs.join(', ')}`);
    const started = Date.now();
    const out = await execPlugin({
      plugin: plugin.type,
      file,
      command,
      stdin: pluginStdin(plugin, this.name, list.cniVersion, prev, capabilityArgs),
      env: cniEnv(command, rt.containerId, netns, rt.ifName, rt.args, this.binDirs),
      timeoutMs: this.timeoutMs,
      ...(signal ? { signal } : {}),
    });
    this.logger.debug({ cniNetwork: this.name, containerId: rt.containerId, plugin: plugin.type, command, ms: Date.now() - started }, 'CNI plugin ran');
    return out;
  }

  /** DEL of the whole list after a failed ADD, best effort: logged, never thrown. */
  private async cleanupFailedAdd(list: PluginList, rt: CniRuntimeConf, prev: Obj | undefined, log: Logger): Promise<void> {
    // The last good result is what the plugins that succeeded know of; it helps them clean up.
    const prevForDel = compareCniVersions(list.cniVersion, '0.4.0') >= 0 ? prev : undefined;
    const netns = await this.liveNetns(rt.netns);
    const signal = AbortSignal.timeout(CLEANUP_TIMEOUT_MS);
    for (const plugin of [...list.plugins].reverse()) {
      try {
        await this.run(list, plugin, 'DEL', rt, netns, prevForDel, rt.capabilityArgs, signal);
      } catch (err) {
        // No later DEL will come for a pod that never existed: go on, so that the plugins that did
        // succeed (the IPAM one above all) still release what they took.
        log.warn({ err, plugin: plugin.type }, 'CNI DEL after a failed ADD failed: continuing with the other plugins');
      }
    }
  }

  /** The netns path if it still is a namespace, else '' (see del). */
  private async liveNetns(nsPath: string): Promise<string> {
    return nsPath && (await netnsExists(nsPath)) ? nsPath : '';
  }

  /** The plugin list the ADD ran with, if cached and readable; else the current one. */
  private listFor(cached: CniCacheEntry | undefined, log: Logger): PluginList {
    const current: PluginList = { cniVersion: this.config.cniVersion, disableCheck: this.config.disableCheck, plugins: this.config.plugins };
    if (!cached) return current;
    try {
      const conf: unknown = JSON.parse(Buffer.from(cached.config, 'base64').toString('utf8'));
      if (!isObj(conf) || !Array.isArray(conf['plugins']) || conf['plugins'].length === 0) throw new Error('no plugin list');
      const plugins = conf['plugins'] as unknown[];
      if (!plugins.every((p) => isObj(p) && typeof p['type'] === 'string' && p['type'] !== '')) throw new Error('a plugin has no type');
      return {
        cniVersion: typeof conf['cniVersion'] === 'string' && conf['cniVersion'] ? conf['cniVersion'] : this.config.cniVersion,
        disableCheck: conf['disableCheck'] === true,
        plugins: plugins as CniPluginConfig[],
      };
    } catch (err) {
      log.warn({ err }, 'cached CNI config unreadable: using the current one');
      return current;
    }
  }

  private async readCache(containerId: string, ifName: string, log: Logger): Promise<CniCacheEntry | undefined> {
    const file = this.cacheFile(containerId, ifName);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CniError(`read CNI cache ${file}: ${(err as Error).message}`);
    }
    try {
      const entry: unknown = JSON.parse(text);
      if (!isObj(entry) || entry['kind'] !== 'cniCacheV1' || typeof entry['config'] !== 'string') throw new Error('not a cniCacheV1 entry');
      if (entry['result'] !== undefined && !isObj(entry['result'])) throw new Error('"result" is not an object');
      return entry as unknown as CniCacheEntry;
    } catch (err) {
      // A broken entry must not block DEL forever: DEL then runs without it, as for an unknown pod.
      log.warn({ err, file }, 'ignoring unreadable CNI cache entry');
      return undefined;
    }
  }

  /** Written atomically (temp file + rename): a crash mid-write must not leave half an entry. */
  private async writeCache(rt: CniRuntimeConf, result: Obj): Promise<void> {
    const file = this.cacheFile(rt.containerId, rt.ifName);
    const entry: CniCacheEntry = {
      kind: 'cniCacheV1',
      containerId: rt.containerId,
      config: Buffer.from(JSON.stringify(this.config.raw)).toString('base64'),
      ifName: rt.ifName,
      networkName: this.name,
      netns: rt.netns,
      cniArgs: Object.entries(rt.args),
      ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      result,
    };
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      await fs.writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw new CniError(`write CNI cache ${file}: ${(err as Error).message}`);
    }
  }
}

/** Per capability, the caller's value wins; the cached ones fill in what the caller left out. */
function mergeCapabilityArgs(cached: CniCapabilityArgs | undefined, given: CniCapabilityArgs | undefined): CniCapabilityArgs | undefined {
  if (!cached) return given;
  if (!given) return cached;
  const merged: CniCapabilityArgs = { ...cached };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) merged[k] = v;
  return merged;
}
