// The CRI view of containerd's image records: records grouped by image ID (config digest) into CRI
// images, and the resolution of an ImageSpec.image string (tag or digest reference, image ID, or a
// unique image ID prefix) to one of them. Images of other clients (ctr pull / import, kind load)
// count too: they usually have just a tag record, and are grouped with crisp's by config digest.
import type { cri } from '@crisp/api';
import type { descriptor as descriptorPb } from '@crisp/api';
import { isImageId, normalizeImageId, parseReference, tryParseReference } from '@crisp/registry';
import type { CrispContext } from '../context';
import { invalidArgument } from '../errors';
import { mapLimit } from './concurrency';
import { containerdBlobReader, ImageContentError, isMissingContent, metadataCacheFor } from './metadata';
import type { ImageMetadata } from './metadata';
import { imageGroupsCacheFor } from './resolve-cache';

/** containerd's CRI plugin pins images with `io.cri-containerd.pinned=pinned`; crisp honours it. */
export const CRI_PINNED_LABEL = 'io.cri-containerd.pinned';
export const CRI_PINNED_VALUE = 'pinned';

/** Metadata loads in flight at once when many targets are not cached yet (first list after start). */
const METADATA_CONCURRENCY = 8;

/** One containerd image record. */
export interface ImageRecord {
  name: string;
  target: descriptorPb.Descriptor;
  labels: Record<string, string>;
}

/** One CRI image: every record whose target resolves to the same config digest on this node. */
export interface ImageGroup {
  /** `sha256:<config digest>` */
  id: string;
  /** The metadata of the preferred record (its image ID record when there is one). */
  metadata: ImageMetadata;
  /** The records, sorted by name. */
  records: ImageRecord[];
  repoTags: string[];
  repoDigests: string[];
  /** Every normalized string this image is found by: its tags, digest references and ID. */
  keys: Set<string>;
  pinned: boolean;
}

export type NameKind = 'tag' | 'digest' | 'id' | 'other';

export interface ClassifiedName {
  kind: NameKind;
  /** The normalized name (`docker.io/library/busybox:latest`); the raw name for `other`. */
  normalized: string;
  /** `name@digest` for a digest reference, also one with a tag (`name:tag@digest`). */
  repoDigest?: string;
  /** `name` (domain/path) of a reference. */
  repository?: string;
}

/**
 * What an image record's name is: a tag reference, a digest reference, an image ID, or something
 * else (a name without tag, or not a reference at all: listed by ID only).
 */
export function classifyRecordName(name: string): ClassifiedName {
  if (isImageId(name) && name.startsWith('sha256:')) return { kind: 'id', normalized: name };
  const ref = tryParseReference(name, { defaultTag: false });
  if (ref === undefined) return { kind: 'other', normalized: name };
  if (ref.digest !== undefined) {
    return { kind: 'digest', normalized: ref.toString(), repoDigest: `${ref.name}@${ref.digest}`, repository: ref.name };
  }
  if (ref.tag !== undefined) return { kind: 'tag', normalized: ref.toString(), repository: ref.name };
  return { kind: 'other', normalized: ref.toString(), repository: ref.name };
}

/** The lookup keys of a parsed reference: itself, and `name@digest` when it has a digest. */
function referenceKeys(input: string): string[] {
  const ref = parseReference(input);
  const keys = [ref.toString()];
  if (ref.digest !== undefined && ref.tag !== undefined) keys.push(`${ref.name}@${ref.digest}`);
  return keys;
}

/** The keys the configured sandbox image is known by ([] when it is not a valid reference). */
export function sandboxImageKeys(sandboxImage: string | undefined): string[] {
  if (!sandboxImage) return [];
  if (isImageId(sandboxImage)) return [normalizeImageId(sandboxImage)];
  try {
    return referenceKeys(sandboxImage);
  } catch {
    return [];
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface GroupOptions {
  /** `config.sandboxImage`: the image that is pinned (kubelet's image GC leaves it alone). */
  sandboxImage?: string;
}

/**
 * Groups records (each with the metadata of its target) into CRI images by image ID.
 * repoTags are the tag records; repoDigests the digest records plus, for each tag record,
 * `name@<target digest>` (what the tag was resolved to), as containerd's CRI plugin reports.
 */
export function groupImages(entries: readonly { record: ImageRecord; metadata: ImageMetadata }[], options: GroupOptions = {}): ImageGroup[] {
  const byId = new Map<string, { record: ImageRecord; metadata: ImageMetadata }[]>();
  for (const e of entries) {
    const list = byId.get(e.metadata.id);
    if (list) list.push(e);
    else byId.set(e.metadata.id, [e]);
  }
  const pinKeys = sandboxImageKeys(options.sandboxImage);
  const groups: ImageGroup[] = [];
  for (const [id, members] of byId) {
    members.sort((a, b) => compareStrings(a.record.name, b.record.name));
    const tags = new Set<string>();
    const digests = new Set<string>();
    const keys = new Set<string>([id]);
    let pinned = false;
    for (const { record } of members) {
      const c = classifyRecordName(record.name);
      keys.add(c.normalized);
      if (c.kind === 'tag') {
        tags.add(c.normalized);
        if (c.repository !== undefined && record.target.digest !== '') digests.add(`${c.repository}@${record.target.digest}`);
      } else if (c.kind === 'digest') {
        digests.add(c.repoDigest!);
      }
      if (record.labels[CRI_PINNED_LABEL] === CRI_PINNED_VALUE) pinned = true;
    }
    for (const d of digests) keys.add(d);
    if (pinKeys.some((k) => keys.has(k))) pinned = true;
    const preferred = members.find((m) => m.record.name === id) ?? members[0]!;
    groups.push({
      id,
      metadata: preferred.metadata,
      records: members.map((m) => m.record),
      repoTags: [...tags].sort(compareStrings),
      repoDigests: [...digests].sort(compareStrings),
      keys,
      pinned,
    });
  }
  return groups.sort((a, b) => compareStrings(a.id, b.id));
}

/** The CRI Image of a group. */
export function toCriImage(group: ImageGroup): cri.Image {
  const { metadata } = group;
  return {
    id: group.id,
    repoTags: group.repoTags,
    repoDigests: group.repoDigests,
    size: BigInt(metadata.size),
    uid: metadata.uid !== undefined ? { value: metadata.uid } : undefined,
    username: metadata.username,
    spec: { image: group.id, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: '' },
    pinned: group.pinned,
  };
}

/** What an ImageSpec.image string asks for. */
export type ImageQuery =
  | { kind: 'id'; id: string }
  | {
      kind: 'reference';
      /** Normalized keys to look up (`docker.io/library/busybox:latest`). */
      keys: string[];
      /** When nothing has those names: a hexadecimal string may be a truncated image ID. */
      idPrefix?: string;
    }
  | { kind: 'id-prefix'; idPrefix: string };

const ID_PREFIX = /^(?:sha256:)?([a-f0-9]{1,63})$/;

/**
 * Parses an ImageSpec.image: an image ID (`sha256:<64 hex>` or bare 64 hex), a reference
 * (normalized: `busybox` is `docker.io/library/busybox:latest`), or a truncated image ID (tried
 * only when no record has the name, as containerd does). Throws InvalidReferenceError (→
 * INVALID_ARGUMENT) for anything else.
 */
export function parseImageQuery(input: string): ImageQuery {
  if (isImageId(input)) return { kind: 'id', id: normalizeImageId(input) };
  const prefix = ID_PREFIX.exec(input)?.[1];
  let keys: string[];
  try {
    keys = referenceKeys(input);
  } catch (err) {
    if (prefix !== undefined) return { kind: 'id-prefix', idPrefix: prefix };
    throw err;
  }
  return prefix !== undefined ? { kind: 'reference', keys, idPrefix: prefix } : { kind: 'reference', keys };
}

/** The group a query names, or undefined. A truncated ID that fits several images is refused. */
export function findImage(groups: readonly ImageGroup[], query: ImageQuery): ImageGroup | undefined {
  if (query.kind === 'id') return groups.find((g) => g.id === query.id);
  if (query.kind === 'reference') {
    const found = groups.find((g) => query.keys.some((k) => g.keys.has(k)));
    if (found !== undefined || query.idPrefix === undefined) return found;
  }
  const prefix = `sha256:${query.idPrefix}`;
  const matches = groups.filter((g) => g.id.startsWith(prefix));
  if (matches.length > 1) throw invalidArgument(`image ID prefix "${query.idPrefix}" is ambiguous: it matches ${matches.length} images`);
  return matches[0];
}

/** All image records of the namespace. */
export async function listImageRecords(ctx: CrispContext, signal?: AbortSignal): Promise<ImageRecord[]> {
  const res = await ctx.containerd.images.list({ filters: [] }, { signal });
  const out: ImageRecord[] = [];
  for (const img of res.images) {
    if (img.target === undefined || img.target.digest === '') {
      ctx.logger.debug({ image: img.name }, 'skipping image record without a target');
      continue;
    }
    out.push({ name: img.name, target: img.target, labels: img.labels });
  }
  return out;
}

/**
 * Every CRI image of the namespace. Records whose content is missing (garbage-collected, or a
 * pull in progress) or unusable on this node are left out with a debug log; containerd failures
 * fail the call.
 */
export async function loadImageGroups(ctx: CrispContext, signal?: AbortSignal): Promise<ImageGroup[]> {
  const records = await listImageRecords(ctx, signal);
  const cache = metadataCacheFor(ctx.containerd);
  const read = containerdBlobReader(ctx.containerd);
  const loaded = await mapLimit(records, METADATA_CONCURRENCY, async (record) => {
    signal?.throwIfAborted();
    try {
      return { record, metadata: await cache.get(record.target, read) };
    } catch (err) {
      if (isMissingContent(err)) {
        ctx.logger.debug({ image: record.name, target: record.target.digest, error: (err as Error).message }, 'skipping image record: content missing');
        return undefined;
      }
      if (err instanceof ImageContentError) {
        ctx.logger.debug({ image: record.name, target: record.target.digest, error: err.message }, 'skipping image record: not an image for this node');
        return undefined;
      }
      throw err;
    }
  });
  const entries = loaded.filter((e): e is { record: ImageRecord; metadata: ImageMetadata } => e !== undefined);
  return groupImages(entries, { sandboxImage: ctx.config.sandboxImage });
}

/** The image an ImageSpec.image names, or undefined when there is none. */
export async function resolveImage(ctx: CrispContext, image: string, signal?: AbortSignal): Promise<ImageGroup | undefined> {
  const query = parseImageQuery(image);
  return findImage(await loadImageGroups(ctx, signal), query);
}

/**
 * resolveImage over the groups kept between calls (see resolve-cache.ts): for the create paths, which
 * would otherwise list every image record on each call.
 */
export async function resolveImageCached(ctx: CrispContext, image: string, signal?: AbortSignal): Promise<ImageGroup | undefined> {
  const query = parseImageQuery(image);
  return findImage(await imageGroupsCacheFor(ctx.containerd).get(() => loadImageGroups(ctx, signal)), query);
}

/** ListImages / StreamImages: every image, or only the one `filter` names (none when absent). */
export async function listCriImages(ctx: CrispContext, filter: string, signal?: AbortSignal): Promise<cri.Image[]> {
  const query = filter === '' ? undefined : parseImageQuery(filter);
  const groups = await loadImageGroups(ctx, signal);
  if (query === undefined) return groups.map(toCriImage);
  const found = findImage(groups, query);
  return found ? [toCriImage(found)] : [];
}
