// Pulling an image into containerd, as containerd's Go client does (containerd 1.6 has no server-side
// pull): under a lease, write the manifests, config and layers into the content store with the GC labels
// that tie them together, unpack the layers into snapshots keyed by chain ID, then create the image records.
import { descriptor as descriptorPb } from '@crisp/api';
import {
  ContainerdClient,
  isAlreadyExists,
  isNotFound,
  ownedLabels,
  skipBytes,
  withLease,
  writeContent,
} from '@crisp/containerd';
import type { AuthConfig, Descriptor, FetchedManifest, ImageReference, RegistryClient, ResolvedImage } from '@crisp/registry';
import { parseReference } from '@crisp/registry';
import { randomBytes } from 'node:crypto';
import { deadlineExceeded, invalidArgument } from '../errors';
import type { Logger } from '../log';
import { chainIds } from './chain-id';
import { GC_CONTENT_LABEL, GC_SNAPSHOT_LABEL, SNAPSHOT_REF_LABEL, UNCOMPRESSED_LABEL, leaseLabels } from '../store/labels';
import { IMAGE_LABELS, imageRecordNames } from './records';
import { imageGroupsCacheFor } from './resolve-cache';

export interface PullOptions {
  containerd: ContainerdClient;
  registry: RegistryClient;
  snapshotter: string;
  maxConcurrentDownloads: number;
  /** A pull that moves no byte for this long is cancelled. */
  progressTimeoutMs: number;
  logger: Logger;
  /** Told of every pull's end (crisp's metrics): bytes fetched, seconds, and whether it succeeded. */
  onPulled?: (bytes: number, seconds: number, ok: boolean) => void;
}

export interface PullResult {
  /** The image ID: `sha256:<config digest>` (what CRI PullImage returns as image_ref). */
  imageId: string;
  reference: string;
  /** Digest of what the reference names (index or manifest). */
  rootDigest: string;
  names: string[];
  bytesFetched: number;
}

/** How long a pull's lease outlives a crashed crisp before containerd's GC may take its content. */
const LEASE_EXPIRY_MS = 60 * 60 * 1000;
/** Larger WRITE messages for layers: fewer round trips to containerd (its limit is 16 MiB). */
const LAYER_WRITE_CHUNK_BYTES = 4 * 1024 * 1024;
const LAYER_MEDIA_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);

function toPb(d: Descriptor): descriptorPb.Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: BigInt(d.size), annotations: d.annotations ?? {} };
}

/** Tracks bytes moved and aborts the pull when nothing moves for too long. */
class ProgressWatchdog {
  bytes = 0;
  private last = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(timeoutMs: number, onStall: () => void) {
    this.timer = setInterval(() => {
      if (Date.now() - this.last > timeoutMs) onStall();
    }, Math.min(1000, timeoutMs));
    this.timer.unref();
  }

  add(n: number): void {
    this.bytes += n;
    this.last = Date.now();
  }

  touch(): void {
    this.last = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Runs `fn` over `items` with at most `limit` at once; results in order, one promise per item. */
function startLimited<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R>[] {
  let running = 0;
  const queue: (() => void)[] = [];
  const next = (): void => {
    if (running < limit && queue.length > 0) {
      running++;
      queue.shift()!();
    }
  };
  return items.map(
    (item, i) =>
      new Promise<R>((resolve, reject) => {
        queue.push(() => {
          fn(item, i)
            .then(resolve, reject)
            .finally(() => {
              running--;
              next();
            });
        });
        next();
      }),
  );
}

/** One pull of one reference; `Puller` shares it between concurrent callers. */
async function pullOnce(opts: PullOptions, ref: ImageReference, auth: AuthConfig | undefined, signal: AbortSignal, watchdog: ProgressWatchdog): Promise<PullResult> {
  const { containerd, registry, logger } = opts;
  const log = logger.child({ image: ref.toString() });
  const started = Date.now();
  const resolved: ResolvedImage = await registry.resolveImage(ref, { ...(auth ? { auth } : {}), signal });
  watchdog.touch();
  const manifest = resolved.manifest.manifest;
  const config = JSON.parse(resolved.config.bytes.toString('utf8')) as { rootfs?: { diff_ids?: string[] } };
  const diffIds = config.rootfs?.diff_ids ?? [];
  const layers = manifest.layers;
  for (const l of layers) {
    if (!LAYER_MEDIA_TYPES.has(l.mediaType)) throw invalidArgument(`${ref}: layer ${l.digest} has unsupported media type ${l.mediaType}`);
  }
  if (diffIds.length !== layers.length) {
    throw invalidArgument(`${ref}: image config lists ${diffIds.length} diff IDs for ${layers.length} layers`);
  }
  const chain = chainIds(diffIds);
  const topChainId = chain[chain.length - 1] ?? '';

  const lease = await containerd.leases.create(
    { id: `crisp-pull-${randomBytes(8).toString('hex')}`, labels: leaseLabels(LEASE_EXPIRY_MS) },
    { signal },
  );
  const leaseId = lease.lease!.id;
  const leased = <T extends object>(o: T) => withLease(leaseId, { ...o, signal });
  try {
    // Layers first, concurrently; each is unpacked as soon as it and the layers below it are in.
    const downloads = startLimited(layers, opts.maxConcurrentDownloads, async (layer, i) => {
      const t0 = Date.now();
      const res = await writeContent(containerd, {
        ref: `crisp-pull-${layer.digest}`,
        expected: { digest: layer.digest, size: layer.size },
        labels: ownedLabels({ [UNCOMPRESSED_LABEL]: diffIds[i]! }),
        leaseId,
        signal,
        onProgress: () => watchdog.touch(),
        chunkBytes: LAYER_WRITE_CHUNK_BYTES,
        source: async (offset) => {
          // containerd checks digest and size at commit: hashing here as well would only cost CPU.
          const blob = await registry.fetchBlob(ref, layer, { offset, verify: false, ...(auth ? { auth } : {}), signal });
          const counted = async function* (): AsyncGenerator<Uint8Array> {
            const src = blob.restarted ? skipBytes(blob.stream, offset) : blob.stream;
            for await (const chunk of src as AsyncIterable<Uint8Array>) {
              watchdog.add(chunk.length);
              yield chunk;
            }
          };
          return counted();
        },
      });
      if (res.existed) await ensureLabels(containerd, layer.digest, { [UNCOMPRESSED_LABEL]: diffIds[i]! }, signal);
      const secs = (Date.now() - t0) / 1000;
      log.debug(
        { layer: layer.digest, bytes: layer.size, existed: res.existed, resumedFrom: res.resumedFrom, seconds: secs, mbPerSec: secs > 0 ? Math.round(layer.size / secs / 1e4) / 100 : undefined },
        'layer fetched',
      );
    });
    // Don't let a rejected download go unobserved while an earlier layer is being unpacked.
    for (const d of downloads) d.catch(() => undefined);

    for (let i = 0; i < layers.length; i++) {
      await downloads[i];
      await unpackLayer(opts, toPb(layers[i]!), diffIds[i]!, chain[i]!, i > 0 ? chain[i - 1]! : '', leased, signal);
      watchdog.touch();
    }

    // Then the config (which pins the snapshot chain) and the manifests, children before parents.
    await writeBlob(containerd, resolved.config.descriptor, resolved.config.bytes, { [GC_SNAPSHOT_LABEL + opts.snapshotter]: topChainId }, leaseId, signal);
    for (let m = resolved.manifests.length - 1; m >= 0; m--) {
      const fetched = resolved.manifests[m]!;
      await writeBlob(containerd, fetched.descriptor, fetched.bytes, gcRefsOf(fetched, resolved.manifests[m + 1]), leaseId, signal);
    }

    const imageId = resolved.config.descriptor.digest;
    const names = imageRecordNames(ref, resolved.root.digest, imageId);
    const target = toPb(resolved.root);
    for (const name of names) {
      const image = { name, target, labels: { ...IMAGE_LABELS } };
      try {
        await containerd.images.create({ image }, leased({}));
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        await containerd.images.update({ image, updateMask: ['target', ...Object.keys(IMAGE_LABELS).map((k) => `labels.${k}`)] }, leased({}));
      }
    }
    log.info({ imageId, root: resolved.root.digest, layers: layers.length, bytes: watchdog.bytes, seconds: (Date.now() - started) / 1000 }, 'image pulled');
    return { imageId, reference: ref.toString(), rootDigest: resolved.root.digest, names, bytesFetched: watchdog.bytes };
  } finally {
    // Records may have been written (even by a pull that failed half way): resolutions list them again
    // from now on, as the image event that would see to it may come after the caller's next request.
    imageGroupsCacheFor(containerd).invalidate();
    // Deleting the lease hands what it protected to containerd's GC: unreferenced content of a failed
    // pull goes, what the image records reference stays. Done even when the caller has gone.
    await containerd.leases.delete({ id: leaseId, sync: false }).catch((err: unknown) => log.warn({ err, lease: leaseId }, 'could not delete pull lease'));
  }
}

/** GC labels of a manifest (its config and layers) or an index (the child that was fetched). */
function gcRefsOf(fetched: FetchedManifest, child: FetchedManifest | undefined): Record<string, string> {
  if (fetched.kind === 'manifest') {
    const labels: Record<string, string> = { [`${GC_CONTENT_LABEL}config`]: fetched.manifest.config.digest };
    fetched.manifest.layers.forEach((l, i) => (labels[`${GC_CONTENT_LABEL}l.${i}`] = l.digest));
    return labels;
  }
  const labels: Record<string, string> = {};
  fetched.index.manifests.forEach((m, i) => {
    if (child && m.digest === child.descriptor.digest) labels[`${GC_CONTENT_LABEL}m.${i}`] = m.digest;
  });
  return labels;
}

async function writeBlob(containerd: ContainerdClient, d: Descriptor, bytes: Buffer, labels: Record<string, string>, leaseId: string, signal: AbortSignal): Promise<void> {
  const res = await writeContent(containerd, {
    ref: `crisp-pull-${d.digest}`,
    expected: { digest: d.digest, size: bytes.length },
    labels: ownedLabels(labels),
    leaseId,
    signal,
    source: async function* (offset) {
      yield bytes.subarray(offset);
    },
  });
  if (res.existed) await ensureLabels(containerd, d.digest, labels, signal);
}

/** Content that was already there keeps its labels at commit: add the ones this pull relies on. */
async function ensureLabels(containerd: ContainerdClient, digest: string, labels: Record<string, string>, signal: AbortSignal): Promise<void> {
  const keys = Object.keys(labels);
  if (keys.length === 0) return;
  await containerd.content.update({ info: { digest, labels, size: 0n, createdAt: undefined, updatedAt: undefined }, updateMask: keys.map((k) => `labels.${k}`) }, { signal });
}

async function unpackLayer(
  opts: PullOptions,
  layer: descriptorPb.Descriptor,
  diffId: string,
  chainId: string,
  parent: string,
  leased: <T extends object>(o: T) => T & { signal: AbortSignal },
  signal: AbortSignal,
): Promise<void> {
  const { containerd, snapshotter } = opts;
  try {
    await containerd.snapshots.stat({ snapshotter, key: chainId }, { signal });
    return; // already unpacked, by this image or another sharing the layer
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const key = `crisp-extract-${randomBytes(6).toString('hex')} ${chainId}`;
  const labels = ownedLabels({ [SNAPSHOT_REF_LABEL]: chainId });
  const { mounts } = await containerd.snapshots.prepare({ snapshotter, key, parent, labels }, leased({}));
  let committed = false;
  try {
    const applied = await containerd.diff.apply({ diff: layer, mounts, payloads: {}, syncFs: false }, leased({}));
    if (applied.applied?.digest !== diffId) {
      throw invalidArgument(`layer ${layer.digest} unpacks to ${applied.applied?.digest ?? 'nothing'}, but the image config says ${diffId}`);
    }
    try {
      await containerd.snapshots.commit({ snapshotter, name: chainId, key, labels, parent }, leased({}));
      committed = true;
    } catch (err) {
      // Another pull unpacked the same layer meanwhile: theirs is as good as ours.
      if (!isAlreadyExists(err)) throw err;
    }
  } finally {
    if (!committed) {
      await containerd.snapshots.remove({ snapshotter, key }).catch(() => undefined);
    }
  }
}

/**
 * Pulls images, sharing one pull between concurrent requests for the same reference. The shared pull
 * is cancelled only when every caller waiting for it has gone.
 */
export class Puller {
  private readonly inflight = new Map<string, { promise: Promise<PullResult>; waiters: number; abort: AbortController }>();

  constructor(private readonly opts: PullOptions) {}

  async pull(reference: string, auth: AuthConfig | undefined, signal: AbortSignal): Promise<PullResult> {
    const ref = parseReference(reference);
    const key = ref.toString();
    let entry = this.inflight.get(key);
    if (!entry) {
      const abort = new AbortController();
      let stalled = false;
      const watchdog = new ProgressWatchdog(this.opts.progressTimeoutMs, () => {
        stalled = true;
        abort.abort(new Error('no progress'));
      });
      const started = performance.now();
      const promise = pullOnce(this.opts, ref, auth, abort.signal, watchdog)
        .then((res) => {
          this.opts.onPulled?.(watchdog.bytes, (performance.now() - started) / 1000, true);
          return res;
        })
        .catch((err: unknown) => {
          this.opts.onPulled?.(watchdog.bytes, (performance.now() - started) / 1000, false);
          if (stalled) throw deadlineExceeded(`pull of ${key} made no progress for ${this.opts.progressTimeoutMs / 1000}s`);
          throw err;
        })
        .finally(() => {
          watchdog.stop();
          this.inflight.delete(key);
        });
      entry = { promise, waiters: 0, abort };
      this.inflight.set(key, entry);
    }
    const e = entry;
    e.waiters++;
    const onAbort = (): void => {
      e.waiters--;
      if (e.waiters === 0) e.abort.abort(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        e.promise,
        new Promise<never>((_, reject) => {
          const fail = (): void => {
            const err = new Error(`pull of ${key} cancelled by the caller`);
            err.name = 'AbortError';
            reject(err);
          };
          if (signal.aborted) fail();
          else signal.addEventListener('abort', fail, { once: true });
        }),
      ]);
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!signal.aborted) e.waiters--;
    }
  }
}
