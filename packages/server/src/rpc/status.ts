import type { cri } from '@crisp/api';
import { configToRaw } from '../config/schema';
import type { CrispContext } from '../context';
import { loadCniConfig, networkCondition } from '../network/cni-config';

/** How long Status waits for containerd: kubelet polls Status and must learn of an outage quickly. */
export const CONTAINERD_PING_TIMEOUT_MS = 800;

export async function status(ctx: CrispContext, req: cri.StatusRequest): Promise<cri.StatusResponse> {
  const { config } = ctx;
  const [runtime, cni] = await Promise.all([
    ctx.containerd.ping({ timeoutMs: CONTAINERD_PING_TIMEOUT_MS }).then(
      (v) => ({ ok: true as const, version: v }),
      (err: unknown) => ({ ok: false as const, error: err as Error }),
    ),
    loadCniConfig(config.cni.confDir, config.cni.binDirs),
  ]);
  const network = networkCondition(cni, config.cni.confDir);

  const conditions: cri.RuntimeCondition[] = [
    runtime.ok
      ? { type: 'RuntimeReady', status: true, reason: '', message: '' }
      : {
          type: 'RuntimeReady',
          status: false,
          reason: 'ContainerdUnreachable',
          message: `containerd at ${config.containerd.address} is not answering: ${runtime.error.message}`,
        },
    { type: 'NetworkReady', ...network },
  ];

  const info: Record<string, string> = {};
  if (req.verbose) {
    info['config'] = JSON.stringify(configToRaw(config));
    info['cniconfig'] = JSON.stringify(cni.network ? { file: cni.network.file, network: cni.network.raw } : { rejected: cni.rejected });
    info['containerd'] = JSON.stringify({
      address: config.containerd.address,
      namespace: config.containerd.namespace,
      ...(runtime.ok ? { version: runtime.version.version, revision: runtime.version.revision } : { error: runtime.error.message }),
    });
  }

  const features = { recursiveReadOnlyMounts: false, userNamespaces: false };
  return {
    status: { conditions },
    info,
    // "" is the handler kubelet uses for pods that name none.
    runtimeHandlers: [{ name: '', features }, ...Object.keys(config.runtimes).sort().map((name) => ({ name, features }))],
    features: { supplementalGroupsPolicy: false, userNamespacesHostNetwork: false },
  };
}
