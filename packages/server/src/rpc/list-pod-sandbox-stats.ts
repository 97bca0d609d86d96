import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listPodSandboxStats as list } from '../stats/service';

export async function listPodSandboxStats(ctx: CrispContext, req: cri.ListPodSandboxStatsRequest, call: CallContext): Promise<cri.ListPodSandboxStatsResponse> {
  return { stats: await list(ctx, req.filter, call.signal) };
}
