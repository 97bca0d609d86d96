import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** Idempotent: an unknown id is success. */
export async function removePodSandbox(ctx: CrispContext, req: cri.RemovePodSandboxRequest): Promise<cri.RemovePodSandboxResponse> {
  await ctx.sandboxes.remove(req.podSandboxId);
  return {};
}
