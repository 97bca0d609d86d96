import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listPodSandboxMetrics as list } from '../stats/service';

export async function listPodSandboxMetrics(ctx: CrispContext, _req: cri.ListPodSandboxMetricsRequest, call: CallContext): Promise<cri.ListPodSandboxMetricsResponse> {
  return { podMetrics: await list(ctx, call.signal) };
}
