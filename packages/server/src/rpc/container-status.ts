import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';

/** Non-verbose answers are pre-encoded (server/pre-encoded.ts): the service definition in server.ts knows how to send them. */
export async function containerStatus(ctx: CrispContext, req: cri.ContainerStatusRequest, call: CallContext): Promise<cri.ContainerStatusResponse> {
  if (!req.verbose) return (await ctx.containers.statusEncodedOf(req.containerId)) as unknown as cri.ContainerStatusResponse;
  return ctx.containers.status(req.containerId, req.verbose, call.signal);
}
