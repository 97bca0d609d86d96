import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { invalidArgument } from '../errors';
import { resolveImage } from '../image/image-index';
import { removeImageRecords } from '../image/remove';

/** Removes the whole image (every tag, digest reference and its ID record); an absent image is success. */
export async function removeImage(ctx: CrispContext, req: cri.RemoveImageRequest, call?: CallContext): Promise<cri.RemoveImageResponse> {
  const spec = req.image?.image ?? '';
  if (spec === '') throw invalidArgument('RemoveImage: image.image is required');
  const group = await resolveImage(ctx, spec, call?.signal);
  if (group === undefined) {
    ctx.logger.debug({ image: spec }, 'RemoveImage: no such image');
    return {};
  }
  const removed = await removeImageRecords(ctx, group, call?.signal);
  ctx.logger.info({ image: spec, imageId: group.id, removed }, 'image removed');
  return {};
}
