import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listPodSandboxes } from './list-pod-sandbox';

/** KEP-5825: the list in bounded messages, for nodes whose lists outgrow one gRPC message. */
export const STREAM_BATCH = 100;

export async function* streamPodSandboxes(ctx: CrispContext, req: cri.StreamPodSandboxesRequest, call: CallContext): AsyncGenerator<cri.StreamPodSandboxesResponse> {
  const all = await listPodSandboxes(ctx, req.filter, call.signal);
  for (let i = 0; i < all.length; i += STREAM_BATCH) yield { podSandboxes: all.slice(i, i + STREAM_BATCH) };
}
