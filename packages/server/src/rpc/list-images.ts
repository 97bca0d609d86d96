import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { listCriImages } from '../image/image-index';

/** Every image of the namespace (crisp's and other clients'), or only the one the filter names. */
export async function listImages(ctx: CrispContext, req: cri.ListImagesRequest, call?: CallContext): Promise<cri.ListImagesResponse> {
  return { images: await listCriImages(ctx, req.filter?.image?.image ?? '', call?.signal) };
}
