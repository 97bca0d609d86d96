import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { podSandboxStats as stats } from '../stats/service';

export async function podSandboxStats(ctx: CrispContext, req: cri.PodSandboxStatsRequest, call: CallContext): Promise<cri.PodSandboxStatsResponse> {
  return { stats: await stats(ctx, req.podSandboxId, call.signal) };
}
