// Pull benchmark: the ~60 MB `big` fixture pulled (and unpacked) by crisp's PullImage and by
// `ctr images pull --plain-http` from the same local registry into the same containerd, alternating,
// with the content removed in between so that every pull fetches and unpacks everything.
import { ContainerdClient } from '@crisp/containerd';
import type { TestContainerd } from '../containerd';
import type { CrispProcess } from '../crisp';
import type { PushedFixture } from '../images';
import { fmtMs, median } from './stats';

const CTR_NS = 'bench-ctr';

async function removeEverywhere(client: ContainerdClient, namespaces: string[]): Promise<void> {
  for (const ns of namespaces) {
    const c = client.withNamespace(ns);
    const { images } = await c.images.list({ filters: [] });
    for (let i = 0; i < images.length; i++) await c.images.delete({ name: images[i]!.name, sync: i === images.length - 1 });
  }
}

export interface PullBenchResult {
  crispMs: number[];
  ctrMs: number[];
  ratio: number;
}

export async function benchPull(containerd: TestContainerd, crisp: CrispProcess, crispNamespace: string, big: PushedFixture, rounds: number): Promise<PullBenchResult> {
  const client = new ContainerdClient({ address: containerd.address, namespace: crispNamespace });
  const crispMs: number[] = [];
  const ctrMs: number[] = [];
  try {
    await removeEverywhere(client, [crispNamespace, CTR_NS]);
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      const res = await containerd.ctr(['images', 'pull', '--plain-http', big.reference], { namespace: CTR_NS });
      if (res.code !== 0) throw new Error(`ctr pull failed: ${res.stderr}`);
      ctrMs.push(performance.now() - t0);
      await removeEverywhere(client, [CTR_NS]);

      t0 = performance.now();
      await crisp.images.pullImage({ image: { image: big.reference } });
      crispMs.push(performance.now() - t0);
      await removeEverywhere(client, [crispNamespace]);
    }
  } finally {
    client.close();
  }
  return { crispMs, ctrMs, ratio: median(crispMs) / median(ctrMs) };
}

export function reportPull(r: PullBenchResult, bytes: number): string {
  const mb = bytes / 1e6;
  const line = (name: string, ms: number[]): string =>
    `  ${name.padEnd(6)} median ${fmtMs(median(ms))}  (${(mb / (median(ms) / 1000)).toFixed(0)} MB/s)  runs: ${ms.map((m) => m.toFixed(0)).join(', ')}`;
  return [
    `pull of ${mb.toFixed(1)} MB (${'big'} fixture, fetch + unpack), ${r.crispMs.length} rounds:`,
    line('crisp', r.crispMs),
    line('ctr', r.ctrMs),
    `  ratio crisp/ctr: ${r.ratio.toFixed(2)}x  (target <= 1.10x)`,
  ].join('\n');
}
