// `stats` bench section: N (default 100) running busybox containers per runtime in one pod each, then
//  - ListContainerStats (no filter) latency, crisp against containerd's CRI plugin on the same
//    containerd, calls alternating between the two;
//  - /metrics scrape time: crisp's embedded endpoint (its N containers) and the standalone
//    crisp-metrics-exporter reading the CRI plugin's namespace (its N containers).
// Everything made here is removed in `finally`, whatever failed.
import { cri } from '@crisp/api';
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Client } from 'nice-grpc';
import { containerConfig, eventually, podConfig } from '../cri';
import { MetricsPage, scrapeMetrics } from '../metrics-scrape';
import { freePort, killOnExit, waitChildExit } from '../proc';
import { fmtMs, percentile } from './stats';

type Runtime = Client<cri.RuntimeServiceDefinition>;

export interface StatsBenchSide {
  name: string;
  rt: Runtime;
  /** /metrics of this runtime's containers. */
  metricsUrl: string;
}

/** A containerd call measured alongside, over the container ids of side `side` (e.g. Tasks.Metrics). */
export interface StatsBenchFloor {
  name: string;
  side: number;
  call: (ids: string[]) => Promise<unknown>;
}

export interface StatsBenchResult {
  containers: number;
  sides: { name: string; listMs: number[]; listed: number; scrapeMs: number[]; series: number }[];
  floors: { name: string; ms: number[] }[];
}

const CALL = (): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(120_000) });

/** Runs `fn` for 0..n-1 with `width` in flight; every call settles before the first error is rethrown. */
async function inLanes(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n && errors.length === 0) await fn(next++).catch((err: unknown) => void errors.push(err));
    }),
  );
  if (errors.length > 0) throw errors[0];
}

/** Starts the standalone exporter on `namespace`; resolves once /healthz answers, with its URL and a stop. */
export async function startStandaloneExporter(opts: { containerdAddress: string; containerdRoot: string; namespace: string }): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const cli = path.resolve(__dirname, '../../../packages/metrics-exporter/dist/cli.js');
  const child = spawn(process.execPath, [cli, '--listen', `127.0.0.1:${port}`, '--containerd-address', opts.containerdAddress, '--containerd-root', opts.containerdRoot, '--namespace', opts.namespace, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  killOnExit(child);
  await eventually('the standalone exporter to answer', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, 20_000);
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    stop: async () => {
      child.kill('SIGTERM');
      await waitChildExit(child, 10_000);
    },
  };
}

export async function benchStatsList(
  sides: StatsBenchSide[],
  image: string,
  opts: { containers: number; concurrency: number; calls: number; scrapes: number; floors?: StatsBenchFloor[] },
): Promise<StatsBenchResult> {
  const pods = new Map<StatsBenchSide, string>();
  const ids: string[][] = sides.map(() => []);
  const floors = opts.floors ?? [];
  const out: StatsBenchResult = {
    containers: opts.containers,
    sides: sides.map((s) => ({ name: s.name, listMs: [], listed: 0, scrapeMs: [], series: 0 })),
    floors: floors.map((f) => ({ name: f.name, ms: [] })),
  };
  try {
    for (const [side, s] of sides.entries()) {
      const name = `bench-stats-${s.name.replace(/\W+/g, '-')}`;
      const config = podConfig(name, { metadata: { name, namespace: 'bench', uid: `uid-${name}`, attempt: 0 } });
      const { podSandboxId } = await s.rt.runPodSandbox({ config }, CALL());
      pods.set(s, podSandboxId);
      await inLanes(opts.containers, opts.concurrency, async (i) => {
        const { containerId } = await s.rt.createContainer({ podSandboxId, config: containerConfig(`stats-${i}`, image, ['sleep', '3600']), sandboxConfig: config }, CALL());
        await s.rt.startContainer({ containerId }, CALL());
        ids[side]!.push(containerId);
      });
    }
    // Warm-up (first samples, caches), then the measured calls alternating between the runtimes.
    for (const [i, s] of sides.entries()) out.sides[i]!.listed = (await s.rt.listContainerStats({}, CALL())).stats.length;
    for (let call = 0; call < opts.calls; call++) {
      for (const [i, s] of sides.entries()) {
        const t0 = performance.now();
        await s.rt.listContainerStats({}, CALL());
        out.sides[i]!.listMs.push(performance.now() - t0);
      }
      for (const [i, f] of floors.entries()) {
        const t0 = performance.now();
        await f.call(ids[f.side]!);
        out.floors[i]!.ms.push(performance.now() - t0);
      }
    }
    for (const s of sides) await scrapeMetrics(s.metricsUrl);
    for (let n = 0; n < opts.scrapes; n++) {
      for (const [i, s] of sides.entries()) {
        const t0 = performance.now();
        const page: MetricsPage = await scrapeMetrics(s.metricsUrl);
        out.sides[i]!.scrapeMs.push(performance.now() - t0);
        out.sides[i]!.series = page.families.filter((f) => f.name.startsWith('container_')).reduce((acc, f) => acc + f.metrics.length, 0);
      }
    }
  } finally {
    for (const [s, podSandboxId] of pods) {
      await s.rt.stopPodSandbox({ podSandboxId }, CALL()).catch(() => undefined);
      await s.rt.removePodSandbox({ podSandboxId }, CALL()).catch((err: unknown) => process.stderr.write(`stats bench clean-up (${s.name}): ${(err as Error).message}\n`));
    }
  }
  return out;
}

export function reportStatsList(r: StatsBenchResult): string {
  const lines = [`stats: ${r.containers} running containers per runtime`, '  ListContainerStats (no filter)      p50        p95   listed'];
  for (const s of r.sides) lines.push(`    ${s.name.padEnd(30)} ${fmtMs(percentile(s.listMs, 50)).padStart(9)} ${fmtMs(percentile(s.listMs, 95)).padStart(10)}   ${s.listed}`);
  const [a, b] = r.sides;
  if (a && b) {
    lines.push(`    ratio ${a.name}/${b.name}: p50 ${(percentile(a.listMs, 50) / percentile(b.listMs, 50)).toFixed(2)}x, p95 ${(percentile(a.listMs, 95) / percentile(b.listMs, 95)).toFixed(2)}x (target <= 1.0x)`);
  }
  for (const f of r.floors) lines.push(`    ${f.name.padEnd(30)} ${fmtMs(percentile(f.ms, 50)).padStart(9)} ${fmtMs(percentile(f.ms, 95)).padStart(10)}`);
  lines.push('  /metrics scrape (fetch + parse)       p50        p95   container_* series');
  for (const s of r.sides) lines.push(`    ${s.name.padEnd(30)} ${fmtMs(percentile(s.scrapeMs, 50)).padStart(9)} ${fmtMs(percentile(s.scrapeMs, 95)).padStart(10)}   ${s.series}`);
  return lines.join('\n');
}
