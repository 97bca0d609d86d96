// Containers benchmarks, crisp against containerd's own CRI plugin on the same containerd:
//  - lifecycle: CreateContainer → StartContainer → StopContainer (timeout 0) → RemoveContainer of a
//    busybox `sleep 3600`, in one pod per runtime created once, alternating crisp and the peer;
//  - reads under load: N (default 100) running busybox containers in one pod per runtime, then
//    ListContainers (no filter) and ContainerStatus (random container) latencies, alternating.
// Pods get a log_directory and containers a log_path, as kubelet sets them. Everything made here
// (containers, pods, so netns and CNI allocations) is removed in `finally`, even after a failure.
import { containers as ctrd, cri, snapshots } from '@crisp/api';
import { ContainerdClient, OWNER_LABEL, OWNER_VALUE } from '@crisp/containerd';
import type { Client } from 'nice-grpc';
import { readdirSync, readFileSync } from 'node:fs';
import { containerConfig, podConfig } from '../cri';
import { makeTempDir } from '../tmp';
import { fmtMs, percentile } from './stats';

type Runtime = Client<cri.RuntimeServiceDefinition>;

export interface ContainerBenchTarget {
  name: string;
  rt: Runtime;
}

const SLEEP = ['sleep', '3600'];
/** No single call may hang the bench: a hung runtime is reported as a DEADLINE/ABORTED failure. */
const CALL_TIMEOUT_MS = 120_000;
const CLEANUP_CALL_TIMEOUT_MS = 30_000;
const within = (ms: number): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(ms) });

function benchPodConfig(name: string, logDirectory: string): cri.PodSandboxConfig {
  return podConfig(name, { metadata: { name, namespace: 'bench', uid: `uid-${name}`, attempt: 0 }, logDirectory });
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first error once all in flight settle. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
  return out;
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A pod with a log directory, and a way to remove it with everything in it whatever happened before. */
class BenchPod {
  id = '';
  readonly config: cri.PodSandboxConfig;
  readonly containerIds: string[] = [];

  /** The pod's log_directory (a fresh temp dir, as kubelet gives each pod its own). */
  readonly logDir: string;

  constructor(
    readonly target: ContainerBenchTarget,
    name: string,
  ) {
    this.logDir = makeTempDir(`crisp-bench-${name}-`);
    this.config = benchPodConfig(name, this.logDir);
  }

  async run(): Promise<void> {
    const { podSandboxId } = await this.target.rt.runPodSandbox({ config: this.config }, within(CALL_TIMEOUT_MS));
    this.id = podSandboxId;
  }

  async createAndStart(name: string, image: string): Promise<{ id: string; createMs: number; startMs: number }> {
    const t0 = performance.now();
    const { containerId } = await this.target.rt.createContainer(
      { podSandboxId: this.id, config: containerConfig(name, image, SLEEP), sandboxConfig: this.config },
      within(CALL_TIMEOUT_MS),
    );
    this.containerIds.push(containerId);
    const t1 = performance.now();
    await this.target.rt.startContainer({ containerId }, within(CALL_TIMEOUT_MS));
    return { id: containerId, createMs: t1 - t0, startMs: performance.now() - t1 };
  }

  async stopAndRemove(containerId: string): Promise<void> {
    await this.target.rt.stopContainer({ containerId, timeout: 0n }, within(CALL_TIMEOUT_MS));
    await this.target.rt.removeContainer({ containerId }, within(CALL_TIMEOUT_MS));
    const i = this.containerIds.indexOf(containerId);
    if (i >= 0) this.containerIds.splice(i, 1);
  }

  /**
   * Best effort, never throws: removes the containers this pod still has (as the runtime lists
   * them, plus the ones we made), then stops and removes the pod. Returns what failed.
   */
  async destroy(): Promise<string[]> {
    const errors: string[] = [];
    if (this.id === '') return errors;
    const rt = this.target.rt;
    let ids = [...this.containerIds];
    try {
      const { containers } = await rt.listContainers({ filter: { podSandboxId: this.id, id: '', labelSelector: {} } }, within(CLEANUP_CALL_TIMEOUT_MS));
      ids = [...new Set([...ids, ...containers.map((c) => c.id)])];
    } catch (err) {
      errors.push(`${this.target.name}: ListContainers of pod ${this.id}: ${describeError(err)}`);
    }
    await pool(ids, 8, async (id) => {
      try {
        await rt.stopContainer({ containerId: id, timeout: 0n }, within(CLEANUP_CALL_TIMEOUT_MS));
        await rt.removeContainer({ containerId: id }, within(CLEANUP_CALL_TIMEOUT_MS));
      } catch (err) {
        errors.push(`${this.target.name}: removing container ${id}: ${describeError(err)}`);
      }
    });
    this.containerIds.length = 0;
    try {
      await rt.stopPodSandbox({ podSandboxId: this.id }, within(CLEANUP_CALL_TIMEOUT_MS));
      await rt.removePodSandbox({ podSandboxId: this.id }, within(CLEANUP_CALL_TIMEOUT_MS));
      this.id = '';
    } catch (err) {
      errors.push(`${this.target.name}: removing pod ${this.id}: ${describeError(err)}`);
    }
    return errors;
  }
}

async function destroyAll(pods: BenchPod[]): Promise<void> {
  const errors = (await Promise.all(pods.map((p) => p.destroy()))).flat();
  if (errors.length === 0) return;
  const shown = errors.slice(0, 6);
  if (errors.length > shown.length) shown.push(`... and ${errors.length - shown.length} more`);
  throw new Error(`containers bench clean-up failed:\n  ${shown.join('\n  ')}`);
}

/** Runs `body`, then destroys `pods` whatever happened; a body error wins over a clean-up error. */
async function withPods<R>(pods: BenchPod[], body: () => Promise<R>): Promise<R> {
  let result: R;
  try {
    result = await body();
  } catch (err) {
    await destroyAll(pods).catch((cleanupErr: unknown) => process.stderr.write(`${describeError(cleanupErr)}\n`));
    throw err;
  }
  await destroyAll(pods);
  return result;
}

/** Prefixes the runtime's name to an error, so that a failure under load says whose it is. */
async function tagged<R>(target: ContainerBenchTarget, what: string, p: () => Promise<R>): Promise<R> {
  try {
    return await p();
  } catch (err) {
    const e = new Error(`${target.name}: ${what}: ${describeError(err)}`);
    (e as { cause?: unknown }).cause = err;
    throw e;
  }
}

// --- lifecycle ------------------------------------------------------------------------------------

interface Steps {
  total: number[];
  create: number[];
  start: number[];
  stop: number[];
  remove: number[];
}

export interface ContainerLifecycleResult {
  crisp: Steps;
  peer: Steps;
}

const emptySteps = (): Steps => ({ total: [], create: [], start: [], stop: [], remove: [] });

async function lifecycleOnce(pod: BenchPod, name: string, image: string, into?: Steps): Promise<void> {
  const rt = pod.target.rt;
  await tagged(pod.target, `lifecycle of ${name}`, async () => {
    const t0 = performance.now();
    const { id, createMs, startMs } = await pod.createAndStart(name, image);
    const t1 = performance.now();
    await rt.stopContainer({ containerId: id, timeout: 0n }, within(CALL_TIMEOUT_MS));
    const t2 = performance.now();
    await rt.removeContainer({ containerId: id }, within(CALL_TIMEOUT_MS));
    const t3 = performance.now();
    pod.containerIds.splice(pod.containerIds.indexOf(id), 1);
    if (into) {
      into.total.push(t3 - t0);
      into.create.push(createMs);
      into.start.push(startMs);
      into.stop.push(t2 - t1);
      into.remove.push(t3 - t2);
    }
  });
}

export async function benchContainerLifecycle(crisp: ContainerBenchTarget, peer: ContainerBenchTarget, image: string, rounds: number): Promise<ContainerLifecycleResult> {
  const crispPod = new BenchPod(crisp, 'bench-lc-crisp');
  const peerPod = new BenchPod(peer, 'bench-lc-peer');
  return withPods([crispPod, peerPod], async () => {
    await tagged(crisp, 'RunPodSandbox', () => crispPod.run());
    await tagged(peer, 'RunPodSandbox', () => peerPod.run());
    // One warm-up each (first snapshot of busybox, first container in the shim).
    await lifecycleOnce(crispPod, 'warm-crisp', image);
    await lifecycleOnce(peerPod, 'warm-peer', image);
    const out: ContainerLifecycleResult = { crisp: emptySteps(), peer: emptySteps() };
    for (let i = 0; i < rounds; i++) {
      // Who goes first alternates, as in the reads below.
      const crispRound = (): Promise<unknown> => lifecycleOnce(crispPod, `c-${i}`, image, out.crisp);
      const peerRound = (): Promise<unknown> => lifecycleOnce(peerPod, `p-${i}`, image, out.peer);
      for (const round of i % 2 === 0 ? [crispRound, peerRound] : [peerRound, crispRound]) await round();
    }
    return out;
  });
}

const ratio = (a: number[], b: number[], p: number): string => `${(percentile(a, p) / percentile(b, p)).toFixed(2)}x`;

function latencyLine(name: string, ms: number[]): string {
  return `  ${name.padEnd(16)} p50 ${fmtMs(percentile(ms, 50)).padStart(8)}  p95 ${fmtMs(percentile(ms, 95)).padStart(8)}`;
}

export function reportContainerLifecycle(r: ContainerLifecycleResult): string {
  const steps = (s: Steps): string =>
    `create ${fmtMs(percentile(s.create, 50))}, start ${fmtMs(percentile(s.start, 50))}, stop ${fmtMs(percentile(s.stop, 50))}, remove ${fmtMs(percentile(s.remove, 50))}`;
  return [
    `container lifecycle (create, start, stop timeout 0, remove; busybox sleep, pod created once), ${r.crisp.total.length} rounds:`,
    `${latencyLine('crisp', r.crisp.total)}   p50 steps: ${steps(r.crisp)}`,
    `${latencyLine('containerd CRI', r.peer.total)}   p50 steps: ${steps(r.peer)}`,
    `  ratio crisp/containerd-CRI: p50 ${ratio(r.crisp.total, r.peer.total, 50)}, p95 ${ratio(r.crisp.total, r.peer.total, 95)}  (target <= 1.10x)`,
  ].join('\n');
}

// --- reads with many running containers -----------------------------------------------------------

interface ReadSide {
  /** Wall time to create+start all containers with `concurrency` in flight. */
  fillMs: number;
  createStartMs: number[];
  listMs: number[];
  statusMs: number[];
  /** Version: the bare round trip of a CRI call, for comparison. */
  versionMs: number[];
  /** Containers ListContainers returned (checked against the count started). */
  listed: number;
  /** CRI log files in the pod's log directory once all are running (one per container expected). */
  logFiles: number;
  /** Wall time to stop+remove all containers with `concurrency` in flight. */
  drainMs: number;
}

interface FloorSide {
  listMs: number[];
  /** Each half of `listMs` on its own. */
  containersListMs: number[];
  tasksListMs: number[];
  statusMs: number[];
  listBytes: number;
}

export interface ContainerReadsResult {
  containers: number;
  concurrency: number;
  warmupCalls: number;
  crisp: ReadSide;
  peer: ReadSide;
  floor?: FloorSide;
  /** crisp's process before the fill, with everything running, and after the clean-up. */
  crispProc: { before?: ProcFacts; loaded?: ProcFacts; after?: ProcFacts };
}

export interface ReadsOptions {
  containers: number;
  concurrency: number;
  listCalls: number;
  statusCalls: number;
  /**
   * Unmeasured calls of each kind per runtime before the measured ones: kubelet calls these all the
   * time, so the steady state is what matters, not crisp's JIT warming up on the first few dozen calls.
   */
  warmupCalls: number;
  /** crisp's pid, to sample its fds and memory (leaks). */
  crispPid?: number | undefined;
  /** The containerd calls crisp's ListContainers/ContainerStatus make, timed directly (what crisp adds on top). */
  floor?: ContainerdFloor;
}

/** crisp's reads done straight on containerd: Containers.List (crisp's containers) + Tasks.List; Containers.Get + Tasks.Get. */
export interface ContainerdFloor {
  /** Resolves with the size of the Containers.List response in bytes. */
  list(): Promise<number>;
  containersList(): Promise<unknown>;
  tasksList(): Promise<unknown>;
  status(id: string): Promise<unknown>;
  close(): void;
}

export function containerdFloor(address: string, namespace: string): ContainerdFloor {
  const client = new ContainerdClient({ address, namespace });
  // = kindFilter('container') of packages/server/src/store/labels.ts (not exported by @crisp/server).
  const filter = `labels."${OWNER_LABEL}"==${OWNER_VALUE},labels."io.crisp.kind"==container`;
  return {
    async list() {
      const [res] = await Promise.all([client.containers.list({ filters: [filter] }), client.tasks.list({ filter: '' })]);
      return ctrd.ListContainersResponse.encode(res).finish().length;
    },
    containersList: () => client.containers.list({ filters: [filter] }),
    tasksList: () => client.tasks.list({ filter: '' }),
    async status(id: string) {
      await Promise.all([client.containers.get({ id }), client.tasks.get({ containerId: id, execId: '' })]);
    },
    close: () => client.close(),
  };
}

export interface ProcFacts {
  fds: number;
  rssMb: number;
}

function procFacts(pid: number | undefined): ProcFacts | undefined {
  if (pid === undefined) return undefined;
  try {
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { fds, rssMb: rss ? Number(rss[1]) / 1024 : NaN };
  } catch {
    return undefined;
  }
}

async function fill(pod: BenchPod, n: number, concurrency: number, image: string, side: ReadSide): Promise<string[]> {
  const t0 = performance.now();
  const ids = await pool(
    Array.from({ length: n }, (_v, i) => i),
    concurrency,
    (i) =>
      tagged(pod.target, `create+start of container ${i + 1}/${n}`, async () => {
        const r = await pod.createAndStart(`load-${i}`, image);
        side.createStartMs.push(r.createMs + r.startMs);
        return r.id;
      }),
  );
  side.fillMs = performance.now() - t0;
  return ids;
}

async function timed(into: number[], fn: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  await fn();
  into.push(performance.now() - t0);
}

export async function benchContainerReads(crisp: ContainerBenchTarget, peer: ContainerBenchTarget, image: string, opts: ReadsOptions): Promise<ContainerReadsResult> {
  const crispPod = new BenchPod(crisp, 'bench-reads-crisp');
  const peerPod = new BenchPod(peer, 'bench-reads-peer');
  const side = (): ReadSide => ({ fillMs: 0, createStartMs: [], listMs: [], statusMs: [], versionMs: [], listed: 0, logFiles: 0, drainMs: 0 });
  const out: ContainerReadsResult = { containers: opts.containers, concurrency: opts.concurrency, warmupCalls: opts.warmupCalls, crisp: side(), peer: side(), crispProc: {} };
  await withPods([crispPod, peerPod], async () => {
    await tagged(crisp, 'RunPodSandbox', () => crispPod.run());
    await tagged(peer, 'RunPodSandbox', () => peerPod.run());
    out.crispProc.before = procFacts(opts.crispPid);
    // crisp fills first (nothing else running), the peer second (crisp's N running): if anything, that favours crisp.
    const crispIds = await fill(crispPod, opts.containers, opts.concurrency, image, out.crisp);
    const peerIds = await fill(peerPod, opts.containers, opts.concurrency, image, out.peer);
    out.crispProc.loaded = procFacts(opts.crispPid);

    const noFilter = {};
    // Warm-up, and a check that each lists what it started.
    for (const [t, s, ids, pod] of [
      [crisp, out.crisp, crispIds, crispPod],
      [peer, out.peer, peerIds, peerPod],
    ] as const) {
      s.logFiles = readdirSync(pod.logDir).filter((f) => f.endsWith('.log')).length;
      const { containers } = await tagged(t, 'ListContainers', () => t.rt.listContainers(noFilter));
      const running = containers.filter((c) => ids.includes(c.id) && c.state === cri.ContainerState.CONTAINER_RUNNING).length;
      s.listed = containers.length;
      if (running !== ids.length) throw new Error(`${t.name}: ListContainers shows ${running} of the ${ids.length} started containers running`);
      await tagged(t, 'ContainerStatus', () => t.rt.containerStatus({ containerId: ids[0]!, verbose: false }));
    }
    const warmPick = (ids: string[], i: number): string => ids[i % ids.length]!;
    for (let i = 0; i < opts.warmupCalls; i++) {
      for (const [t, ids] of [
        [crisp, crispIds],
        [peer, peerIds],
      ] as const) {
        await tagged(t, 'warm-up ListContainers', () => t.rt.listContainers(noFilter));
        await tagged(t, 'warm-up Version', () => t.rt.version({ version: 'v1' }));
        await tagged(t, 'warm-up ContainerStatus', () => t.rt.containerStatus({ containerId: warmPick(ids, i), verbose: false }));
      }
    }
    const floor = opts.floor;
    const floorSide: FloorSide | undefined = floor ? { listMs: [], containersListMs: [], tasksListMs: [], statusMs: [], listBytes: await floor.list() } : undefined;
    if (floorSide) out.floor = floorSide;
    // Each runtime goes first in every other round: the call after another one can find the machine
    // still busy with the previous one's leftovers (GC, containerd's own work), and neither gets that seat.
    const inTurn = async (i: number, crispCall: () => Promise<void>, peerCall: () => Promise<void>): Promise<void> => {
      for (const call of i % 2 === 0 ? [crispCall, peerCall] : [peerCall, crispCall]) await call();
    };
    for (let i = 0; i < opts.listCalls; i++) {
      await inTurn(
        i,
        () => tagged(crisp, 'ListContainers', () => timed(out.crisp.listMs, () => crisp.rt.listContainers(noFilter))),
        () => tagged(peer, 'ListContainers', () => timed(out.peer.listMs, () => peer.rt.listContainers(noFilter))),
      );
    }
    // The floor in loops of its own: interleaved, containerd's work on 500 KB answers (and its GC after
    // them) spilled into the next runtime call and doubled crisp's measured time.
    for (let i = 0; floor && floorSide && i < opts.listCalls; i++) {
      await timed(floorSide.listMs, () => floor.list());
      await timed(floorSide.containersListMs, () => floor.containersList());
      await timed(floorSide.tasksListMs, () => floor.tasksList());
    }
    for (let i = 0; i < opts.statusCalls; i++) {
      await inTurn(
        i,
        () => timed(out.crisp.versionMs, () => crisp.rt.version({ version: 'v1' })),
        () => timed(out.peer.versionMs, () => peer.rt.version({ version: 'v1' })),
      );
    }
    const pick = (ids: string[]): string => ids[Math.floor(Math.random() * ids.length)]!;
    for (let i = 0; i < opts.statusCalls; i++) {
      const c = pick(crispIds);
      const p = pick(peerIds);
      await inTurn(
        i,
        () => tagged(crisp, `ContainerStatus ${c}`, () => timed(out.crisp.statusMs, () => crisp.rt.containerStatus({ containerId: c, verbose: false }))),
        () => tagged(peer, `ContainerStatus ${p}`, () => timed(out.peer.statusMs, () => peer.rt.containerStatus({ containerId: p, verbose: false }))),
      );
    }
    for (let i = 0; floor && floorSide && i < opts.statusCalls; i++) {
      const c = pick(crispIds);
      await timed(floorSide.statusMs, () => floor.status(c));
    }

    // The measured clean-up of the containers (the pods go in withPods).
    for (const [pod, s, ids] of [
      [crispPod, out.crisp, crispIds],
      [peerPod, out.peer, peerIds],
    ] as const) {
      const t0 = performance.now();
      await pool(ids, opts.concurrency, (id) => tagged(pod.target, `stop+remove of ${id}`, () => pod.stopAndRemove(id)));
      s.drainMs = performance.now() - t0;
    }
  });
  out.crispProc.after = procFacts(opts.crispPid);
  return out;
}

export function reportContainerReads(r: ContainerReadsResult): string {
  const perSec = (s: ReadSide): string => `${(r.containers / (s.fillMs / 1000)).toFixed(1)}/s`;
  const proc = (f: ProcFacts | undefined): string => (f ? `${f.fds} fds, RSS ${f.rssMb.toFixed(0)} MB` : 'n/a');
  return [
    `reads with ${r.containers} running containers per runtime (busybox sleep, one pod each; ${r.concurrency} in flight to start/stop):`,
    `  start ${r.containers}:   crisp ${(r.crisp.fillMs / 1000).toFixed(1)} s (${perSec(r.crisp)}, create+start p50 ${fmtMs(percentile(r.crisp.createStartMs, 50))})` +
      `  containerd CRI ${(r.peer.fillMs / 1000).toFixed(1)} s (${perSec(r.peer)}, create+start p50 ${fmtMs(percentile(r.peer.createStartMs, 50))})` +
      `  ratio ${(r.crisp.fillMs / r.peer.fillMs).toFixed(2)}x`,
    ...(r.crisp.logFiles !== r.containers || r.peer.logFiles !== r.containers
      ? [`  !! CRI log files in the pod log directories: crisp ${r.crisp.logFiles}, containerd CRI ${r.peer.logFiles} (expected ${r.containers} each)`]
      : []),
    `  ListContainers (no filter; ${r.crisp.listed} vs ${r.peer.listed} listed), ${r.crisp.listMs.length} calls after ${r.warmupCalls} unmeasured of each read:`,
    latencyLine('  crisp', r.crisp.listMs),
    latencyLine('  containerd CRI', r.peer.listMs),
    ...(r.floor
      ? [`${latencyLine('  (containerd', r.floor.listMs)}   Containers.List + Tasks.List straight on containerd, crisp's floor;`,
          `                                       alone: Containers.List p50 ${fmtMs(percentile(r.floor.containersListMs, 50))} (${(r.floor.listBytes / 1024).toFixed(0)} KiB), Tasks.List p50 ${fmtMs(percentile(r.floor.tasksListMs, 50))})`]
      : []),
    `    ratio crisp/containerd-CRI: p50 ${ratio(r.crisp.listMs, r.peer.listMs, 50)}, p95 ${ratio(r.crisp.listMs, r.peer.listMs, 95)}  (target <= 1.0x)`,
    `  ContainerStatus (random container), ${r.crisp.statusMs.length} calls:`,
    latencyLine('  crisp', r.crisp.statusMs),
    latencyLine('  containerd CRI', r.peer.statusMs),
    ...(r.floor ? [`${latencyLine('  (containerd', r.floor.statusMs)}   Containers.Get + Tasks.Get straight on containerd, crisp's floor)`] : []),
    `    ratio crisp/containerd-CRI: p50 ${ratio(r.crisp.statusMs, r.peer.statusMs, 50)}, p95 ${ratio(r.crisp.statusMs, r.peer.statusMs, 95)}  (target <= 1.0x)`,
    `  Version (bare CRI round trip), ${r.crisp.versionMs.length} calls: crisp p50 ${fmtMs(percentile(r.crisp.versionMs, 50))} p95 ${fmtMs(percentile(r.crisp.versionMs, 95))}` +
      `  containerd CRI p50 ${fmtMs(percentile(r.peer.versionMs, 50))} p95 ${fmtMs(percentile(r.peer.versionMs, 95))}`,
    `  stop+remove ${r.containers}: crisp ${(r.crisp.drainMs / 1000).toFixed(1)} s  containerd CRI ${(r.peer.drainMs / 1000).toFixed(1)} s  ratio ${(r.crisp.drainMs / r.peer.drainMs).toFixed(2)}x`,
    `  crisp process: before ${proc(r.crispProc.before)}; loaded ${proc(r.crispProc.loaded)}; after clean-up ${proc(r.crispProc.after)}`,
  ].join('\n');
}

// --- leftovers ------------------------------------------------------------------------------------

export interface LeftoverDeps {
  containerdAddress: string;
  namespace: string;
  snapshotter: string;
  /** crisp's state dir: io/<id> FIFO dirs and containers/<id> dirs must be gone with the containers. */
  stateDir: string;
}

/** What crisp left in its containerd namespace and state dir after the containers benches (should be none). */
export async function crispLeftovers(deps: LeftoverDeps): Promise<string[]> {
  const client = new ContainerdClient({ address: deps.containerdAddress, namespace: deps.namespace });
  const out: string[] = [];
  try {
    const { containers } = await client.containers.list({ filters: [] });
    if (containers.length > 0) out.push(`${containers.length} containerd containers (${containers.map((c) => c.id.slice(0, 12)).join(', ')})`);
    const { tasks } = await client.tasks.list({ filter: '' });
    if (tasks.length > 0) out.push(`${tasks.length} tasks`);
    let snaps = 0;
    for await (const res of client.snapshots.list({ snapshotter: deps.snapshotter, filters: [] })) {
      // Image layers (committed) stay; active snapshots are containers' or pods'.
      snaps += res.info.filter((s) => s.kind !== snapshots.Kind.COMMITTED).length;
    }
    if (snaps > 0) out.push(`${snaps} active snapshots`);
    const { leases } = await client.leases.list({ filters: [] });
    // crisp-create-* are the spares crisp keeps ready (LeasePool): they hold nothing and expire.
    const own = leases.filter((l) => l.id.startsWith('crisp-') && !(l.id.startsWith('crisp-create-') && l.labels['containerd.io/gc.expire']));
    if (own.length > 0) out.push(`${own.length} crisp leases (${own.map((l) => l.id).join(', ')})`);
  } finally {
    client.close();
  }
  for (const sub of ['io', 'containers']) {
    let entries: string[] = [];
    try {
      // io/.pool holds the FIFOs crisp keeps ready (logs/fifo.ts): not a container's.
      entries = readdirSync(`${deps.stateDir}/${sub}`).filter((e) => e !== '.pool');
    } catch {
      // never made
    }
    if (entries.length > 0) out.push(`${entries.length} entries in ${deps.stateDir}/${sub}`);
  }
  return out;
}
