// CRI PortForward: resolves the pod's network namespace (NOT_FOUND, FAILED_PRECONDITION,
// INVALID_ARGUMENT) and returns a single-use URL on the streaming server, whose upgraded
// connection the port-forward handler serves (streaming/portforward).
import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';
import { resolvePortForwardTarget } from '../streaming/portforward';

export async function portForward(ctx: CrispContext, req: cri.PortForwardRequest): Promise<cri.PortForwardResponse> {
  const target = await resolvePortForwardTarget(ctx, req);
  return { url: ctx.streaming.url({ kind: 'portforward', target }) };
}
