import type { cri } from '@crisp/api';
import type { CallContext } from 'nice-grpc-common';
import type { CrispContext } from '../context';
import { invalidArgument } from '../errors';
import { resolveImage, toCriImage } from '../image/image-index';
import { verboseImageInfo } from '../image/verbose';

/** An absent image is an empty response, not an error: kubelet pulls when `image` is unset. */
export async function imageStatus(ctx: CrispContext, req: cri.ImageStatusRequest, call?: CallContext): Promise<cri.ImageStatusResponse> {
  const spec = req.image?.image ?? '';
  if (spec === '') throw invalidArgument('ImageStatus: image.image is required');
  const group = await resolveImage(ctx, spec, call?.signal);
  if (group === undefined) return { image: undefined, info: {} };
  const info: Record<string, string> = {};
  if (req.verbose) info['info'] = JSON.stringify(await verboseImageInfo(ctx, group, call?.signal));
  return { image: toCriImage(group), info };
}
