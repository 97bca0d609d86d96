// ImageStatus verbose info: what containerd's CRI plugin reports under `info` (`imageSpec`, the
// full image config, and `chainID`) plus where crisp found the image.
import { isNotFound, readContentAll } from '@crisp/containerd';
import { DEFAULT_MAX_CONFIG_SIZE } from '@crisp/registry';
import type { CrispContext } from '../context';
import type { ImageGroup } from './image-index';

export interface VerboseImageInfo {
  /** The image config JSON (OCI image config), as stored. */
  imageSpec?: unknown;
  chainID: string;
  id: string;
  names: string[];
  target: { mediaType: string; digest: string; size: number };
  manifest: { mediaType: string; digest: string; size: number };
  platform: string;
  size: number;
  layers: { mediaType: string; digest: string; size: number; diffID?: string }[];
  pinned: boolean;
}

/** The verbose info of an image; the config is read afresh (verbose calls are rare, the cache keeps no configs). */
export async function verboseImageInfo(ctx: CrispContext, group: ImageGroup, signal?: AbortSignal): Promise<VerboseImageInfo> {
  const m = group.metadata;
  let imageSpec: unknown;
  try {
    const bytes = await readContentAll(ctx.containerd, m.config.digest, DEFAULT_MAX_CONFIG_SIZE, signal);
    imageSpec = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    // Removed between the lookup and now: report the rest.
    if (!isNotFound(err) && !(err instanceof SyntaxError)) throw err;
  }
  return {
    ...(imageSpec !== undefined ? { imageSpec } : {}),
    chainID: m.chainId,
    id: group.id,
    names: group.records.map((r) => r.name),
    target: m.target,
    manifest: m.manifest,
    platform: [m.os, m.architecture, m.variant].filter((s) => s !== undefined && s !== '').join('/'),
    size: m.size,
    layers: m.layers.map((l, i) => ({ ...l, ...(m.diffIds[i] !== undefined ? { diffID: m.diffIds[i] } : {}) })),
    pinned: group.pinned,
  };
}
