// An in-process stand-in for the few containerd services the unit tests exercise, served with
// nice-grpc on a unix socket so calls go through real grpc-js channels, metadata and cancellation.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'nice-grpc';
import type { Server, CompatServiceDefinition, ServiceImplementation } from 'nice-grpc';
import { Metadata, ServerError, Status } from 'nice-grpc-common';
import type { CallContext } from 'nice-grpc-common';
import { content, events, namespaces, version } from '@crisp/api';
import type { Any } from '@crisp/api';
import { AsyncQueue } from '../src/async-queue';
import type { Envelope } from '../src/event-decode';
import { NAMESPACE_HEADER } from '../src/metadata';

type AnyImpl = Record<string, (...args: never[]) => unknown>;

/** Fills methods a test does not implement with UNIMPLEMENTED, unary or streaming as defined. */
function implement<D extends CompatServiceDefinition>(definition: D, impl: Partial<ServiceImplementation<D>>): ServiceImplementation<D> {
  const methods = (definition as unknown as { methods: Record<string, { responseStream: boolean }> }).methods;
  const full: Record<string, unknown> = { ...(impl as AnyImpl) };
  for (const [name, m] of Object.entries(methods)) {
    if (full[name] !== undefined) continue;
    full[name] = m.responseStream
      ? async function* unimplemented(): AsyncGenerator<never> {
          throw new ServerError(Status.UNIMPLEMENTED, `${name} not implemented`);
        }
      : async (): Promise<never> => {
          throw new ServerError(Status.UNIMPLEMENTED, `${name} not implemented`);
        };
  }
  return full as ServiceImplementation<D>;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

interface Ingest {
  chunks: Buffer[];
  offset: number;
  locked: boolean;
}

interface Subscriber {
  filters: string[];
  queue: AsyncQueue<Envelope>;
}

function matches(filters: string[], env: Envelope): boolean {
  if (filters.length === 0) return true;
  return filters.some((f) => {
    const eq = /^topic=="(.*)"$/.exec(f);
    if (eq) return env.topic === eq[1];
    const re = /^topic~="(.*)"$/.exec(f);
    if (re) return new RegExp(re[1]!).test(env.topic);
    return false;
  });
}

export class FakeContainerd {
  readonly dir = mkdtempSync(join(tmpdir(), 'crisp-fake-cd-'));
  readonly socket = join(this.dir, 'containerd.sock');
  readonly address = this.socket;
  private server: Server | undefined;

  /** Metadata of every call, in order, with its method. */
  readonly calls: { method: string; metadata: Metadata }[] = [];
  /** Calls whose server side saw the client cancel. */
  readonly serverAborts: string[] = [];

  readonly blobs = new Map<string, { data: Buffer; labels: Record<string, string> }>();
  readonly ingests = new Map<string, Ingest>();
  /** Sizes of the data in each WRITE message received. */
  readonly writeSizes: number[] = [];
  /** Fail the Write call with UNAVAILABLE after this many more WRITE messages. */
  failWritesAfter: number | undefined;
  /** Answer the next N stats of any ref with UNAVAILABLE "locked". */
  lockedStats = 0;
  /** Reject subscribes with this status (e.g. INVALID_ARGUMENT for a bad filter). */
  subscribeError: Status | undefined;
  /** Drop every Publish on the floor (as if containerd handled it before registering). */
  dropPublishes = 0;

  private readonly subscribers = new Set<Subscriber>();

  private record(method: string, ctx: CallContext): void {
    this.calls.push({ method, metadata: ctx.metadata });
  }

  lastCall(method: string): { method: string; metadata: Metadata } | undefined {
    return [...this.calls].reverse().find((c) => c.method === method);
  }

  async start(): Promise<void> {
    rmSync(this.socket, { force: true });
    const server = createServer();
    server.add(
      version.VersionDefinition,
      implement(version.VersionDefinition, {
        version: async (_req, ctx) => {
          this.record('Version', ctx);
          return { version: '1.6.20-fake', revision: 'fake' };
        },
      }),
    );
    server.add(
      namespaces.NamespacesDefinition,
      implement(namespaces.NamespacesDefinition, {
        // Hangs until the client goes away: the probe for cancellation and deadlines.
        get: async (req, ctx) => {
          this.record('Namespaces.Get', ctx);
          if (req.name === 'missing') throw new ServerError(Status.NOT_FOUND, `namespace "${req.name}": not found`);
          await untilAborted(ctx.signal);
          this.serverAborts.push('Namespaces.Get');
          throw new ServerError(Status.CANCELLED, 'cancelled');
        },
        list: async (_req, ctx) => {
          this.record('Namespaces.List', ctx);
          return { namespaces: [{ name: 'default', labels: {} }] };
        },
      }),
    );
    server.add(events.EventsDefinition, implement(events.EventsDefinition, this.eventsImpl()));
    server.add(content.ContentDefinition, implement(content.ContentDefinition, this.contentImpl()));
    await server.listen(`unix://${this.socket}`);
    this.server = server;
  }

  /** Kills the server abruptly (open streams break), as a crashed containerd would. */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
    for (const s of this.subscribers) s.queue.end();
    this.subscribers.clear();
  }

  async dispose(): Promise<void> {
    this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  emit(topic: string, event: Any, namespace = 'default'): void {
    const env: Envelope = { timestamp: { seconds: 1n, nanos: 2 }, namespace, topic, event };
    for (const s of this.subscribers) if (matches(s.filters, env)) s.queue.push(env);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  private eventsImpl(): Partial<ServiceImplementation<events.EventsDefinition>> {
    const self = this;
    return {
      publish: async (req, ctx) => {
        self.record('Events.Publish', ctx);
        if (self.dropPublishes > 0) {
          self.dropPublishes--;
          return {};
        }
        self.emit(req.topic, req.event ?? { typeUrl: '', value: Buffer.alloc(0) }, ctx.metadata.get(NAMESPACE_HEADER));
        return {};
      },
      subscribe: async function* subscribe(req, ctx) {
        self.record('Events.Subscribe', ctx);
        if (self.subscribeError !== undefined) throw new ServerError(self.subscribeError, 'subscribe refused');
        const sub: Subscriber = { filters: req.filters, queue: new AsyncQueue<Envelope>() };
        self.subscribers.add(sub);
        ctx.signal.addEventListener('abort', () => sub.queue.end());
        try {
          for await (const env of sub.queue) yield env;
          if (!ctx.signal.aborted) throw new ServerError(Status.UNAVAILABLE, 'server stopping');
        } finally {
          self.subscribers.delete(sub);
        }
      },
    };
  }

  private contentImpl(): Partial<ServiceImplementation<content.ContentDefinition>> {
    const self = this;
    return {
      info: async (req, ctx) => {
        self.record('Content.Info', ctx);
        const blob = self.blobs.get(req.digest);
        if (!blob) throw new ServerError(Status.NOT_FOUND, `content digest ${req.digest}: not found`);
        return { info: { digest: req.digest, size: BigInt(blob.data.length), labels: blob.labels } };
      },
      read: async function* read(req, ctx) {
        self.record('Content.Read', ctx);
        const blob = self.blobs.get(req.digest);
        if (!blob) throw new ServerError(Status.NOT_FOUND, `content digest ${req.digest}: not found`);
        const end = req.size > 0n ? Number(req.offset + req.size) : blob.data.length;
        for (let off = Number(req.offset); off < end; off += 1000) {
          yield { offset: BigInt(off), data: blob.data.subarray(off, Math.min(off + 1000, end)) };
        }
      },
      abort: async (req, ctx) => {
        self.record('Content.Abort', ctx);
        self.ingests.delete(req.ref);
        return {};
      },
      write: async function* write(requests, ctx) {
        self.record('Content.Write', ctx);
        let ingest: Ingest | undefined;
        let ref = '';
        let total = 0n;
        let expected = '';
        try {
          for await (const req of requests) {
            if (ingest === undefined) {
              ref = req.ref;
              total = req.total;
              expected = req.expected;
              if (ref === '') throw new ServerError(Status.INVALID_ARGUMENT, 'first message must have a reference');
              if (expected !== '' && self.blobs.has(expected)) {
                throw new ServerError(Status.ALREADY_EXISTS, `content ${expected}: already exists`);
              }
              if (self.lockedStats > 0) {
                self.lockedStats--;
                throw new ServerError(Status.UNAVAILABLE, `ref ${ref} locked for 1ms: unavailable`);
              }
              ingest = self.ingests.get(ref) ?? { chunks: [], offset: 0, locked: false };
              if (ingest.locked) throw new ServerError(Status.UNAVAILABLE, `ref ${ref} locked: unavailable`);
              ingest.locked = true;
              self.ingests.set(ref, ingest);
            }
            const res = { action: req.action, offset: BigInt(ingest.offset), total, digest: '' };
            if (req.action !== content.WriteAction.STAT) {
              if (req.offset > 0n && Number(req.offset) !== ingest.offset) {
                throw new ServerError(Status.OUT_OF_RANGE, `write @${req.offset} must occur at current offset ${ingest.offset}`);
              }
              if (req.offset === 0n && ingest.offset > 0) {
                ingest.chunks = [];
                ingest.offset = 0;
              }
              if (req.data.length > 0) {
                if (self.failWritesAfter !== undefined && self.failWritesAfter-- <= 0) {
                  self.failWritesAfter = undefined;
                  throw new ServerError(Status.UNAVAILABLE, 'connection lost (simulated)');
                }
                self.writeSizes.push(req.data.length);
                ingest.chunks.push(Buffer.from(req.data));
                ingest.offset += req.data.length;
              }
              res.offset = BigInt(ingest.offset);
              const data = Buffer.concat(ingest.chunks);
              res.digest = 'sha256:' + createHash('sha256').update(data).digest('hex');
              if (req.action === content.WriteAction.COMMIT) {
                if (req.total > 0n) total = req.total;
                if (req.expected !== '') expected = req.expected;
                if (total > 0n && BigInt(data.length) !== total) {
                  throw new ServerError(Status.FAILED_PRECONDITION, `unexpected commit size ${data.length}, expected ${total}`);
                }
                if (expected !== '' && res.digest !== expected) {
                  throw new ServerError(Status.FAILED_PRECONDITION, `unexpected commit digest ${res.digest}, expected ${expected}`);
                }
                if (self.blobs.has(res.digest)) throw new ServerError(Status.ALREADY_EXISTS, 'already exists');
                self.blobs.set(res.digest, { data, labels: req.labels });
                self.ingests.delete(ref);
              }
            }
            yield res;
          }
        } finally {
          if (ingest) ingest.locked = false;
          if (ctx.signal.aborted) self.serverAborts.push('Content.Write');
        }
      },
    };
  }
}

export function sha256(data: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}
