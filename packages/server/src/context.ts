// What every RPC handler may use: configuration, the containerd client and a logger.
import type { ContainerdClient } from '@crisp/containerd';
import type { CrispConfig } from './config/schema';
import type { Logger } from './log';

export interface CrispContext {
  readonly config: CrispConfig;
  readonly containerd: ContainerdClient;
  readonly logger: Logger;
  /** crisp's own version (package.json). */
  readonly version: string;
}
