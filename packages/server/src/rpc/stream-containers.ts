import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { STREAM_BATCH } from './stream-pod-sandboxes';

/** KEP-5825: the list in bounded messages. */
export async function* streamContainers(ctx: CrispContext, req: cri.StreamContainersRequest, call: CallContext): AsyncGenerator<cri.StreamContainersResponse> {
  const all = await ctx.containers.list(req.filter, call.signal);
  for (let i = 0; i < all.length; i += STREAM_BATCH) yield { containers: all.slice(i, i + STREAM_BATCH) };
}
