import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** kubelet's log rotation: it renamed the file; new output goes to a new file at the same path. */
export async function reopenContainerLog(ctx: CrispContext, req: cri.ReopenContainerLogRequest): Promise<cri.ReopenContainerLogResponse> {
  await ctx.containers.reopenLog(req.containerId);
  return {};
}
