import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { containerStats as stats } from '../stats/service';

export async function containerStats(ctx: CrispContext, req: cri.ContainerStatsRequest, call: CallContext): Promise<cri.ContainerStatsResponse> {
  return { stats: await stats(ctx, req.containerId, call.signal) };
}
