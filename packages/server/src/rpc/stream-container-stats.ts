import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listContainerStats } from '../stats/service';
import { STREAM_BATCH } from './stream-pod-sandboxes';

/** KEP-5825: ListContainerStats in bounded messages. */
export async function* streamContainerStats(ctx: CrispContext, req: cri.StreamContainerStatsRequest, call: CallContext): AsyncGenerator<cri.StreamContainerStatsResponse> {
  const all = await listContainerStats(ctx, req.filter, call.signal);
  for (let i = 0; i < all.length; i += STREAM_BATCH) yield { containerStats: all.slice(i, i + STREAM_BATCH) };
}
