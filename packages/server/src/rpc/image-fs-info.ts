import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { committedSnapshotUsage, snapshotterMountpoint } from '../image/fs-info';

/** The image filesystem: the snapshotter's directory and what the committed (image layer) snapshots use. */
export async function imageFsInfo(ctx: CrispContext, _req: cri.ImageFsInfoRequest, call?: CallContext): Promise<cri.ImageFsInfoResponse> {
  const { root, snapshotter } = ctx.config.containerd;
  const usage = await committedSnapshotUsage(ctx, snapshotter, call?.signal);
  return {
    imageFilesystems: [
      {
        timestamp: BigInt(Date.now()) * 1_000_000n,
        fsId: { mountpoint: snapshotterMountpoint(root, snapshotter) },
        usedBytes: { value: usage.usedBytes },
        inodesUsed: { value: usage.inodesUsed },
      },
    ],
    containerFilesystems: [],
  };
}
