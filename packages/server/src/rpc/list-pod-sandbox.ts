import { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { criPodSandbox, matchesSandboxFilter } from '../sandbox/status';

/** One Tasks.List call for the states of all sandboxes, whatever their number. */
export async function listPodSandboxes(ctx: CrispContext, filter: cri.PodSandboxFilter | undefined, signal: AbortSignal): Promise<cri.PodSandbox[]> {
  await ctx.sandboxes.ready();
  const states = await ctx.sandboxes.states(signal);
  const out: cri.PodSandbox[] = [];
  for (const rec of ctx.sandboxes.store.all()) {
    const state = states.get(rec.id)?.state ?? cri.PodSandboxState.SANDBOX_NOTREADY;
    if (matchesSandboxFilter(filter, rec, state)) out.push(criPodSandbox(rec, state));
  }
  return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
}

export async function listPodSandbox(ctx: CrispContext, req: cri.ListPodSandboxRequest, call: CallContext): Promise<cri.ListPodSandboxResponse> {
  return { items: await listPodSandboxes(ctx, req.filter, call.signal) };
}
