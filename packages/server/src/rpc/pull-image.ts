import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { invalidArgument } from '../errors';

/** PullImage answers with the image ID (`sha256:<config digest>`), as containerd's CRI plugin does. */
export async function pullImage(ctx: CrispContext, req: cri.PullImageRequest, call: CallContext): Promise<cri.PullImageResponse> {
  const image = req.image?.image ?? '';
  if (image === '') throw invalidArgument('PullImage: image.image is required');
  const result = await ctx.puller.pull(image, req.auth, call.signal);
  return { imageRef: result.imageId };
}
