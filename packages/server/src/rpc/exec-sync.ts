import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { execSync as runExecSync } from '../exec/exec';

export async function execSync(ctx: CrispContext, req: cri.ExecSyncRequest, call: CallContext): Promise<cri.ExecSyncResponse> {
  return runExecSync(ctx, req, call.signal);
}
