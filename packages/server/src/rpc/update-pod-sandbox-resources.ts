import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';

export async function updatePodSandboxResources(ctx: CrispContext, req: cri.UpdatePodSandboxResourcesRequest, call: CallContext): Promise<cri.UpdatePodSandboxResourcesResponse> {
  await ctx.sandboxes.updateResources(req.podSandboxId, req.resources, call.signal);
  return {};
}
