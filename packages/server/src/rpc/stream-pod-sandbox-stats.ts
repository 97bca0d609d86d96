import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listPodSandboxStats } from '../stats/service';
import { STREAM_BATCH } from './stream-pod-sandboxes';

/** KEP-5825: ListPodSandboxStats in bounded messages. */
export async function* streamPodSandboxStats(ctx: CrispContext, req: cri.StreamPodSandboxStatsRequest, call: CallContext): AsyncGenerator<cri.StreamPodSandboxStatsResponse> {
  const all = await listPodSandboxStats(ctx, req.filter, call.signal);
  for (let i = 0; i < all.length; i += STREAM_BATCH) yield { podSandboxStats: all.slice(i, i + STREAM_BATCH) };
}
