import { cri } from '@crisp/api';
import type { CrispContext } from '../context';

/** kubelet reads this once at start-up and refuses to run if its cgroup driver differs. */
export async function runtimeConfig(ctx: CrispContext, _req: cri.RuntimeConfigRequest): Promise<cri.RuntimeConfigResponse> {
  return {
    linux: {
      cgroupDriver: ctx.config.cgroupDriver === 'systemd' ? cri.CgroupDriver.SYSTEMD : cri.CgroupDriver.CGROUPFS,
    },
  };
}
