import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';
import { applyPodCidr } from '../network/pod-cidr';

export async function updateRuntimeConfig(ctx: CrispContext, req: cri.UpdateRuntimeConfigRequest): Promise<cri.UpdateRuntimeConfigResponse> {
  const podCidr = req.runtimeConfig?.networkConfig?.podCidr ?? '';
  const written = await applyPodCidr(podCidr, ctx.config.cni.confTemplate, ctx.config.cni.confDir);
  if (written) ctx.logger.info({ podCidr, file: written }, 'CNI config rendered for the pod CIDR');
  return {};
}
