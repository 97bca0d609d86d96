import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { criPodSandboxStatus } from '../sandbox/status';

export async function podSandboxStatus(ctx: CrispContext, req: cri.PodSandboxStatusRequest, call: CallContext): Promise<cri.PodSandboxStatusResponse> {
  await ctx.sandboxes.ready();
  const rec = ctx.sandboxes.store.mustFind(req.podSandboxId);
  const { state, pid } = await ctx.sandboxes.state(rec.id, call.signal);
  const info: Record<string, string> = {};
  if (req.verbose) {
    info['info'] = JSON.stringify({
      pid,
      netnsPath: rec.netnsPath ?? '',
      image: rec.image,
      runtimeHandler: rec.runtimeHandler,
      runtimeType: rec.runtime,
      cniNetwork: rec.cniNetwork ?? '',
      ips: rec.ips,
      config: rec.config,
    }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
  return { status: criPodSandboxStatus(rec, state), info, containersStatuses: [], timestamp: BigInt(Date.now()) * 1_000_000n };
}
