import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';

export async function containerStatus(ctx: CrispContext, req: cri.ContainerStatusRequest, call: CallContext): Promise<cri.ContainerStatusResponse> {
  return ctx.containers.status(req.containerId, req.verbose, call.signal);
}
