import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listContainerStats as list } from '../stats/service';

export async function listContainerStats(ctx: CrispContext, req: cri.ListContainerStatsRequest, call: CallContext): Promise<cri.ListContainerStatsResponse> {
  return { stats: await list(ctx, req.filter, call.signal) };
}
