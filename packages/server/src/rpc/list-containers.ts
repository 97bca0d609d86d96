import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';

export async function listContainers(ctx: CrispContext, req: cri.ListContainersRequest, call: CallContext): Promise<cri.ListContainersResponse> {
  return { containers: await ctx.containers.list(req.filter, call.signal) };
}
