// RemoveImage: delete every record of one CRI image, so no name of it is left (kubelet removes an
// image by one of its names and expects all of them gone).
import { isNotFound } from '@crisp/containerd';
import type { CrispContext } from '../context';
import { classifyRecordName } from './image-index';
import type { ImageGroup, ImageRecord } from './image-index';
import { imageGroupsCacheFor } from './resolve-cache';

/**
 * The order records are deleted in: references first, the image ID record last, so a crash half
 * way leaves an image that is still listed (by ID) and can be removed again.
 */
export function removalOrder(records: readonly ImageRecord[]): ImageRecord[] {
  const rank = (r: ImageRecord): number => (classifyRecordName(r.name).kind === 'id' ? 1 : 0);
  return [...records].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Deletes the records of `group`. Records already gone are fine (idempotent). The last deletion
 * is synchronous: containerd then collects the content and snapshots nothing references any more
 * before answering. Each deletion names the target it expects, so a name re-pointed by a pull in
 * the meantime is left alone by containerds that check it (2.x; 1.6 ignores the field).
 * Returns the names that were deleted.
 */
export async function removeImageRecords(ctx: CrispContext, group: ImageGroup, signal?: AbortSignal): Promise<string[]> {
  const ordered = removalOrder(group.records);
  const removed: string[] = [];
  try {
    for (let i = 0; i < ordered.length; i++) {
      const record = ordered[i]!;
      try {
        await ctx.containerd.images.delete({ name: record.name, sync: i === ordered.length - 1, target: record.target }, { signal });
        removed.push(record.name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
  } finally {
    // Before answering, even after a partial removal: the image event may come after the caller's next request.
    imageGroupsCacheFor(ctx.containerd).invalidate();
  }
  return removed;
}
