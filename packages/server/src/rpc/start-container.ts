import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

export async function startContainer(ctx: CrispContext, req: cri.StartContainerRequest): Promise<cri.StartContainerResponse> {
  await ctx.containers.start(req.containerId);
  return {};
}
