import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';

export async function updateContainerResources(ctx: CrispContext, req: cri.UpdateContainerResourcesRequest, call: CallContext): Promise<cri.UpdateContainerResourcesResponse> {
  await ctx.containers.updateResources(req.containerId, req.linux, call.signal);
  return {};
}
