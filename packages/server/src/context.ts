// What every RPC handler may use: configuration, the containerd client and a logger.
import type { ContainerdClient } from '@crisp/containerd';
import type { CrispConfig } from './config/schema';
import type { Puller } from './image/pull';
import type { Logger } from './log';
import type { SandboxManager } from './sandbox/manager';
import type { ContainerManager } from './container/manager';
import type { ContainerEventBroadcaster } from './events/container-events';
import type { StreamingServer } from './streaming/server';

export interface CrispContext {
  readonly config: CrispConfig;
  readonly containerd: ContainerdClient;
  readonly logger: Logger;
  /** crisp's own version (package.json). */
  readonly version: string;
  /** Pulls images into containerd, sharing concurrent pulls of one reference. */
  readonly puller: Puller;
  readonly sandboxes: SandboxManager;
  readonly containers: ContainerManager;
  /** GetContainerEvents subscribers. */
  readonly containerEvents: ContainerEventBroadcaster;
  /** The exec/attach/port-forward endpoint: mints the URLs the streaming RPCs return. */
  readonly streaming: Pick<StreamingServer, 'url'>;
}
