import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** The caller's deadline is not passed on: a kubelet retry gets this attempt's id (see sandbox/reservations.ts). */
export async function runPodSandbox(ctx: CrispContext, req: cri.RunPodSandboxRequest): Promise<cri.RunPodSandboxResponse> {
  return { podSandboxId: await ctx.sandboxes.run(req) };
}
