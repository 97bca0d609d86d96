import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** Idempotent: an unknown id is success, as kubelet expects for pods already gone. */
export async function stopPodSandbox(ctx: CrispContext, req: cri.StopPodSandboxRequest): Promise<cri.StopPodSandboxResponse> {
  await ctx.sandboxes.stop(req.podSandboxId);
  return {};
}
