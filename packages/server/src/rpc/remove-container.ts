import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** Idempotent: an unknown container is success. */
export async function removeContainer(ctx: CrispContext, req: cri.RemoveContainerRequest): Promise<cri.RemoveContainerResponse> {
  await ctx.containers.remove(req.containerId);
  return {};
}
