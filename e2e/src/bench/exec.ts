// ExecSync latency, crisp against containerd's own CRI plugin on the same containerd: one host-network
// pod per runtime with a busybox `sleep 3600`, then `calls` ExecSync of `echo hi` on each, the two
// runtimes alternating call by call so that both see the same machine load. A few warm-up calls
// first (image layers, shim, first-call caches) are not counted. Everything made here is removed
// in `finally`, even after a failure.
import { cri } from '@crisp/api';
import { ContainerdClient, OCI_SPEC_TYPE_URL, packJson, unpackSpec } from '@crisp/containerd';
import type { Client } from 'nice-grpc';
import { randomBytes } from 'node:crypto';
import { containerConfig, podConfig } from '../cri';
import { fmtMs, percentile } from './stats';

type Runtime = Client<cri.RuntimeServiceDefinition>;

export interface ExecBenchSide {
  name: string;
  rt: Runtime;
  /** The containerd namespace of this runtime's containers, for the floor (exec straight on containerd). */
  floor?: { address: string; namespace: string };
}

export interface ExecBenchResult {
  calls: number;
  sides: { name: string; latenciesMs: number[]; floorMs?: number[] }[];
}

/**
 * The same command straight on containerd in the same container (Tasks.Exec, Wait, Start, exit,
 * DeleteProcess; no stdio): what runc and the shim take whatever the CRI layer does.
 */
async function floorExec(client: ContainerdClient, containerId: string, processSpec: object): Promise<number> {
  const t0 = performance.now();
  const execId = randomBytes(8).toString('hex');
  await client.tasks.exec({ containerId, execId, stdin: '', stdout: '', stderr: '', terminal: false, spec: packJson('types.containerd.io/opencontainers/runtime-spec/1/Process', processSpec) });
  try {
    const exited = client.tasks.wait({ containerId, execId });
    await client.tasks.start({ containerId, execId });
    const { exitStatus } = await exited;
    if (exitStatus !== 0) throw new Error(`floor exec exited ${exitStatus}`);
  } finally {
    await client.tasks.deleteProcess({ containerId, execId });
  }
  return performance.now() - t0;
}

const CMD = ['echo', 'hi'];
/** The floor's command: no stdio there, so nothing to print (echo would fail writing to none). */
const FLOOR_CMD = ['true'];
/** No single call may hang the bench. */
const CALL_TIMEOUT_MS = 60_000;
const within = (ms: number): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(ms) });

async function execOnce(rt: Runtime, containerId: string): Promise<number> {
  const t0 = performance.now();
  const r = await rt.execSync({ containerId, cmd: CMD, timeout: 10n }, within(CALL_TIMEOUT_MS));
  const ms = performance.now() - t0;
  if (r.exitCode !== 0 || Buffer.from(r.stdout).toString() !== 'hi\n') {
    throw new Error(`ExecSync ${CMD.join(' ')} gave exit ${r.exitCode}, stdout ${JSON.stringify(Buffer.from(r.stdout).toString())}`);
  }
  return ms;
}

export async function benchExecSync(sides: ExecBenchSide[], image: string, opts: { calls: number; warmup: number }): Promise<ExecBenchResult> {
  const pods: { side: ExecBenchSide; podId?: string; containerId?: string }[] = sides.map((side) => ({ side }));
  try {
    for (const p of pods) {
      const name = `bench-exec-${p.side.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      const config = podConfig(name, {
        metadata: { name, namespace: 'bench', uid: `uid-${name}`, attempt: 0 },
        // A host-network pod shares the host's UTS namespace: no hostname of its own (runc refuses one).
        hostname: '',
        linux: { securityContext: { namespaceOptions: { network: cri.NamespaceMode.NODE, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } } as never,
      });
      p.podId = (await p.side.rt.runPodSandbox({ config }, within(CALL_TIMEOUT_MS))).podSandboxId;
      const c = containerConfig('sleeper', image, ['sleep', '3600'], { logPath: '' });
      p.containerId = (await p.side.rt.createContainer({ podSandboxId: p.podId, config: c, sandboxConfig: config }, within(CALL_TIMEOUT_MS))).containerId;
      await p.side.rt.startContainer({ containerId: p.containerId }, within(CALL_TIMEOUT_MS));
    }
    for (let i = 0; i < opts.warmup; i++) for (const p of pods) await execOnce(p.side.rt, p.containerId!);
    const latencies = pods.map(() => [] as number[]);
    for (let i = 0; i < opts.calls; i++) {
      // Alternate who goes first, so that neither always runs right after the other.
      const order = i % 2 === 0 ? pods.map((_, k) => k) : pods.map((_, k) => pods.length - 1 - k);
      for (const k of order) latencies[k]!.push(await execOnce(pods[k]!.side.rt, pods[k]!.containerId!));
    }
    const floors = pods.map(() => [] as number[]);
    const clients = pods.map((p) => (p.side.floor ? new ContainerdClient(p.side.floor) : undefined));
    try {
      const specs = await Promise.all(
        pods.map(async (p, k) => {
          const c = clients[k];
          if (!c) return undefined;
          const { container } = await c.containers.get({ id: p.containerId! });
          if (container?.spec?.typeUrl !== OCI_SPEC_TYPE_URL) throw new Error(`${p.side.name}: container has no OCI spec`);
          return { ...unpackSpec<{ process: object }>(container.spec).process, args: FLOOR_CMD, terminal: false };
        }),
      );
      for (let i = 0; i < opts.calls; i++) {
        const order = i % 2 === 0 ? pods.map((_, k) => k) : pods.map((_, k) => pods.length - 1 - k);
        for (const k of order) if (clients[k]) floors[k]!.push(await floorExec(clients[k]!, pods[k]!.containerId!, specs[k]!));
      }
    } finally {
      for (const c of clients) c?.close();
    }
    return {
      calls: opts.calls,
      sides: pods.map((p, k) => ({ name: p.side.name, latenciesMs: latencies[k]!, ...(floors[k]!.length > 0 ? { floorMs: floors[k]! } : {}) })),
    };
  } finally {
    for (const p of pods) {
      if (!p.podId) continue;
      try {
        await p.side.rt.stopPodSandbox({ podSandboxId: p.podId }, within(CALL_TIMEOUT_MS));
        await p.side.rt.removePodSandbox({ podSandboxId: p.podId }, within(CALL_TIMEOUT_MS));
      } catch (err) {
        process.stderr.write(`bench exec clean-up (${p.side.name}): ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}

export function reportExecSync(r: ExecBenchResult): string {
  const lines = [`ExecSync \`${CMD.join(' ')}\` latency (${r.calls} calls each, alternating; host-network pod, busybox)`];
  const stats = r.sides.map((s) => ({ name: s.name, p50: percentile(s.latenciesMs, 50), p99: percentile(s.latenciesMs, 99) }));
  for (const s of stats) lines.push(`  ${s.name.padEnd(16)} p50 ${fmtMs(s.p50).padStart(9)}   p99 ${fmtMs(s.p99).padStart(9)}`);
  for (const s of r.sides) {
    if (!s.floorMs) continue;
    lines.push(`  (${s.name}'s container straight on containerd: p50 ${fmtMs(percentile(s.floorMs, 50))} p99 ${fmtMs(percentile(s.floorMs, 99))}; \`true\` with Exec, Wait, Start, DeleteProcess, no stdio)`);
  }
  if (stats.length === 2) {
    const [a, b] = stats as [(typeof stats)[0], (typeof stats)[0]];
    lines.push(`  ratio ${a.name}/${b.name}: p50 ${(a.p50 / b.p50).toFixed(2)}x   p99 ${(a.p99 / b.p99).toFixed(2)}x (below 1: ${a.name} faster)`);
  }
  return lines.join('\n');
}
