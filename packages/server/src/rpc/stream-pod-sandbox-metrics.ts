import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listPodSandboxMetrics } from '../stats/service';
import { STREAM_BATCH } from './stream-pod-sandboxes';

/** KEP-5825: ListPodSandboxMetrics in bounded messages. */
export async function* streamPodSandboxMetrics(ctx: CrispContext, _req: cri.StreamPodSandboxMetricsRequest, call: CallContext): AsyncGenerator<cri.StreamPodSandboxMetricsResponse> {
  const all = await listPodSandboxMetrics(ctx, call.signal);
  for (let i = 0; i < all.length; i += STREAM_BATCH) yield { podSandboxMetrics: all.slice(i, i + STREAM_BATCH) };
}
