import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listCriImages } from '../image/image-index';

/** Images per StreamImagesResponse: well under any gRPC message limit, few messages for a big node. */
export const STREAM_IMAGES_BATCH = 200;

/**
 * StreamImages (KEP-5825): the same images as ListImages, in batches of at least one, each image
 * once; the stream ends after the last batch (no message at all when there are no images).
 */
export async function* streamImages(
  ctx: CrispContext,
  req: cri.StreamImagesRequest,
  call?: CallContext,
): AsyncGenerator<cri.StreamImagesResponse, void, undefined> {
  const images = await listCriImages(ctx, req.filter?.image?.image ?? '', call?.signal);
  for (let i = 0; i < images.length; i += STREAM_IMAGES_BATCH) {
    yield { images: images.slice(i, i + STREAM_IMAGES_BATCH) };
  }
}
