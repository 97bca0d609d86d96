import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** Answered pre-encoded (server/pre-encoded.ts): the service definition in server.ts knows how to send it. */
export async function listContainers(ctx: CrispContext, req: cri.ListContainersRequest): Promise<cri.ListContainersResponse> {
  return (await ctx.containers.listEncoded(req.filter)) as unknown as cri.ListContainersResponse;
}
