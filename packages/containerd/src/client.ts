import { ContentDefinition as FastContentDefinition } from './content-definition';
import { ChannelCredentials } from '@grpc/grpc-js';
import type { Channel, ChannelOptions } from '@grpc/grpc-js';
import { createChannel, createClientFactory } from 'nice-grpc';
import type { Client, CompatServiceDefinition } from 'nice-grpc';
import type { Metadata } from 'nice-grpc-common';
import {
  containers,
  content,
  diff,
  events,
  images,
  introspection,
  leases,
  namespaces,
  snapshots,
  tasks,
  version,
} from '@crisp/api';
import { deadlineMiddleware } from './deadline';
import type { DeadlineCallOptions } from './deadline';
import { errorMiddleware } from './errors';
import { leaseMetadata, namespaceMiddleware } from './metadata';
import { observeMiddleware } from './observe';
import type { ContainerdCallObserver } from './observe';

export interface ContainerdClientOptions {
  /** containerd's gRPC socket: a path or a `unix://` URL. */
  address: string;
  /** Namespace sent as `containerd-namespace` on every call. */
  namespace: string;
  /**
   * Deadline for unary calls that carry none (streams and Tasks.Wait are exempt).
   * Unset: no default deadline.
   */
  defaultTimeoutMs?: number;
  /** Told of every unary call's outcome and duration (after errors are converted). */
  observer?: ContainerdCallObserver;
}

/** Extra per-call options every service client accepts besides nice-grpc's (signal, metadata). */
export type ContainerdCallOptions = DeadlineCallOptions;

/** A typed nice-grpc client for one containerd service. */
export type ServiceClient<D extends CompatServiceDefinition> = Client<D, ContainerdCallOptions>;

export interface PingResult {
  version: string;
  revision: string;
}

/** 64 MiB: Content.Read chunks and large container lists must never hit grpc-js' 4 MiB default. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Channel options for a local unix socket. grpc-js' default backoff (1 s growing to 120 s) would
 * leave a restarted containerd unreachable for minutes; capping it at 1 s makes it reachable again
 * within ~1-2 s. Keepalive stays above Go gRPC's default enforcement minimum (5 min): pinging
 * more often makes containerd answer GOAWAY "too_many_pings" and drop the connection.
 */
export const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 330_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.keepalive_permit_without_calls': 0,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  // A local socket needs neither proxies nor client-side retries (callers decide what to retry).
  'grpc.enable_http_proxy': 0,
  'grpc.enable_retries': 0,
};

export function toUnixTarget(address: string): string {
  if (address.startsWith('unix:')) return address;
  if (!address.startsWith('/')) throw new Error(`containerd address must be an absolute socket path: ${address}`);
  return `unix://${address}`;
}

/**
 * One connection to containerd: typed clients for its services over a single grpc-js channel,
 * each call tagged with the namespace. Clients from withNamespace() share the channel.
 */
export class ContainerdClient {
  readonly address: string;
  readonly namespace: string;
  readonly channel: Channel;

  readonly version: ServiceClient<version.VersionDefinition>;
  readonly namespaces: ServiceClient<namespaces.NamespacesDefinition>;
  readonly containers: ServiceClient<containers.ContainersDefinition>;
  readonly tasks: ServiceClient<tasks.TasksDefinition>;
  readonly images: ServiceClient<images.ImagesDefinition>;
  readonly content: ServiceClient<content.ContentDefinition>;
  readonly snapshots: ServiceClient<snapshots.SnapshotsDefinition>;
  readonly diff: ServiceClient<diff.DiffDefinition>;
  readonly leases: ServiceClient<leases.LeasesDefinition>;
  readonly events: ServiceClient<events.EventsDefinition>;
  readonly introspection: ServiceClient<introspection.IntrospectionDefinition>;

  private readonly defaultTimeoutMs: number | undefined;
  private readonly observer: ContainerdCallObserver | undefined;

  /** `channel` is for sharing an existing channel (what withNamespace does); normally omit it. */
  constructor(options: ContainerdClientOptions, channel?: Channel) {
    this.address = options.address;
    this.namespace = options.namespace;
    this.defaultTimeoutMs = options.defaultTimeoutMs;
    this.observer = options.observer;
    this.channel =
      channel ?? createChannel(toUnixTarget(options.address), ChannelCredentials.createInsecure(), CHANNEL_OPTIONS);

    // The middleware attached last runs first: errors wraps everything, so the deadline's
    // DEADLINE_EXCEEDED is converted too.
    const base = createClientFactory()
      .use(namespaceMiddleware(options.namespace))
      .use(deadlineMiddleware(options.defaultTimeoutMs))
      .use(errorMiddleware);
    const factory = options.observer ? base.use(observeMiddleware(options.observer)) : base;
    const ch = this.channel;
    this.version = factory.create(version.VersionDefinition, ch);
    this.namespaces = factory.create(namespaces.NamespacesDefinition, ch);
    this.containers = factory.create(containers.ContainersDefinition, ch);
    this.tasks = factory.create(tasks.TasksDefinition, ch);
    this.images = factory.create(images.ImagesDefinition, ch);
    this.content = factory.create(FastContentDefinition, ch);
    this.snapshots = factory.create(snapshots.SnapshotsDefinition, ch);
    this.diff = factory.create(diff.DiffDefinition, ch);
    this.leases = factory.create(leases.LeasesDefinition, ch);
    this.events = factory.create(events.EventsDefinition, ch);
    this.introspection = factory.create(introspection.IntrospectionDefinition, ch);
  }

  /** A client for another namespace over the same channel. */
  withNamespace(namespace: string): ContainerdClient {
    if (namespace === this.namespace) return this;
    return new ContainerdClient(
      { address: this.address, namespace, defaultTimeoutMs: this.defaultTimeoutMs, ...(this.observer ? { observer: this.observer } : {}) },
      this.channel,
    );
  }

  /** Metadata for calls made under a lease; the namespace is still added by the middleware. */
  leaseMetadata(leaseId: string, base?: Metadata): Metadata {
    return leaseMetadata(leaseId, base);
  }

  /**
   * Version round trip with a short deadline (default 800 ms, so a hung containerd also fails
   * within 1 s). A dead containerd fails in milliseconds: grpc-js fails calls with UNAVAILABLE
   * while the socket refuses connections (no wait-for-ready); the deadline covers a containerd
   * that accepts but does not answer (e.g. stopped).
   */
  async ping(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<PingResult> {
    const res = await this.version.version({}, { timeoutMs: options.timeoutMs ?? 800, signal: options.signal });
    return { version: res.version, revision: res.revision };
  }

  /** Closes the channel, which every client derived through withNamespace() shares. */
  close(): void {
    this.channel.close();
  }
}
