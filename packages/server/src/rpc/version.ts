import type { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** The kubelet-runtime API version crisp speaks (the CRI's own convention is "0.1.0"). */
export const KUBELET_API_VERSION = '0.1.0';
export const RUNTIME_NAME = 'crisp';
export const RUNTIME_API_VERSION = 'v1';

export async function version(ctx: CrispContext, _req: cri.VersionRequest): Promise<cri.VersionResponse> {
  return {
    version: KUBELET_API_VERSION,
    runtimeName: RUNTIME_NAME,
    runtimeVersion: ctx.version,
    runtimeApiVersion: RUNTIME_API_VERSION,
  };
}
