import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';
import { invalidArgument } from '../errors';

/** Idempotent: a stopped or unknown container is success. */
export async function stopContainer(ctx: CrispContext, req: cri.StopContainerRequest): Promise<cri.StopContainerResponse> {
  if (req.timeout < 0n) throw invalidArgument(`StopContainer: timeout must not be negative, got ${req.timeout}`);
  await ctx.containers.stop(req.containerId, Number(req.timeout));
  return {};
}
