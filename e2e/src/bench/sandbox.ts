// Sandbox lifecycle benchmark: RunPodSandbox → PodSandboxStatus → StopPodSandbox → RemovePodSandbox,
// for crisp and for containerd's own CRI plugin on the same containerd, same CNI config, alternating.
import { cri } from '@crisp/api';
import type { Client } from 'nice-grpc';
import { fmtMs, percentile } from './stats';

type Runtime = Client<cri.RuntimeServiceDefinition>;

function podConfig(name: string): cri.PodSandboxConfig {
  return cri.PodSandboxConfig.fromPartial({
    metadata: { name, namespace: 'bench', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    linux: { securityContext: { namespaceOptions: { network: cri.NamespaceMode.POD, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } },
  });
}

async function lifecycle(rt: Runtime, name: string): Promise<number> {
  const t0 = performance.now();
  const { podSandboxId } = await rt.runPodSandbox({ config: podConfig(name) });
  const st = await rt.podSandboxStatus({ podSandboxId, verbose: false });
  if (st.status?.state !== cri.PodSandboxState.SANDBOX_READY) throw new Error(`${name}: sandbox not ready`);
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
  return performance.now() - t0;
}

export interface LifecycleResult {
  crisp: number[];
  peer: number[];
}

export async function benchSandboxLifecycle(crisp: Runtime, peer: Runtime, rounds: number): Promise<LifecycleResult> {
  const out: LifecycleResult = { crisp: [], peer: [] };
  // One warm-up each (first CNI run, first snapshot of the pause image).
  await lifecycle(crisp, 'warm-crisp');
  await lifecycle(peer, 'warm-peer');
  for (let i = 0; i < rounds; i++) {
    // Who goes first alternates: the one after the other finds containerd still busy with its leftovers.
    const crispRound = async (): Promise<void> => void out.crisp.push(await lifecycle(crisp, `crisp-${i}`));
    const peerRound = async (): Promise<void> => void out.peer.push(await lifecycle(peer, `peer-${i}`));
    for (const round of i % 2 === 0 ? [crispRound, peerRound] : [peerRound, crispRound]) await round();
  }
  return out;
}

export function reportLifecycle(r: LifecycleResult): string {
  const line = (name: string, ms: number[]): string =>
    `  ${name.padEnd(16)} p50 ${fmtMs(percentile(ms, 50)).padStart(8)}  p95 ${fmtMs(percentile(ms, 95)).padStart(8)}`;
  return [
    `sandbox lifecycle (run, status, stop, remove with CNI bridge+portmap), ${r.crisp.length} rounds:`,
    line('crisp', r.crisp),
    line('containerd CRI', r.peer),
    `  ratio crisp/containerd-CRI: p50 ${(percentile(r.crisp, 50) / percentile(r.peer, 50)).toFixed(2)}x, p95 ${(percentile(r.crisp, 95) / percentile(r.peer, 95)).toFixed(2)}x  (target <= 1.10x)`,
  ].join('\n');
}
