// How an image is recorded in containerd, the same way containerd's CRI plugin does: up to three image
// records with one target: the tag reference, the digest reference and the image ID.
import { OWNER_LABEL, OWNER_VALUE } from '@crisp/containerd';
import { ImageReference, withDigest } from '@crisp/registry';

/** containerd's CRI plugin marks the images it manages so; tools that know it (crictl via containerd) recognise them. */
export const CRI_IMAGE_LABEL = 'io.cri-containerd.image';

export const IMAGE_LABELS: Readonly<Record<string, string>> = {
  [CRI_IMAGE_LABEL]: 'managed',
  [OWNER_LABEL]: OWNER_VALUE,
};

/** The record names of an image pulled by `ref`: tag ref (when it has a tag), digest ref, image ID. */
export function imageRecordNames(ref: ImageReference, rootDigest: string, imageId: string): string[] {
  const names: string[] = [];
  if (ref.tag !== undefined && ref.digest === undefined) names.push(ref.toString());
  names.push(withDigest(ref, rootDigest).toString());
  names.push(imageId);
  return names;
}
