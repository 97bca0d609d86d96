import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** The caller's deadline is not passed on: a kubelet retry gets this attempt's id (see sandbox/reservations.ts). */
export async function createContainer(ctx: CrispContext, req: cri.CreateContainerRequest): Promise<cri.CreateContainerResponse> {
  return { containerId: await ctx.containers.create(req) };
}
