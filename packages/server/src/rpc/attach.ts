// CRI Attach: validates the request and returns a single-use URL on the streaming server, where the
// client's upgraded connection is attached to the container's stdio (container/attach.ts).
import type { cri } from '@crisp/api';
import { checkAttachable } from '../container/attach';
import type { CrispContext } from '../context';
import { checkStdio } from './exec';

export async function attach(ctx: CrispContext, req: cri.AttachRequest): Promise<cri.AttachResponse> {
  checkStdio('Attach', req);
  const containerId = await checkAttachable(ctx, req.containerId, req.stdin);
  return { url: ctx.streaming.url({ kind: 'attach', request: { ...req, containerId } }) };
}
