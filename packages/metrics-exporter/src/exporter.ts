// Container metrics for one containerd namespace, as a prom-client registry built per scrape.
import { ContainerdClient } from '@crisp/containerd';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { containerFamilies } from './families';
import { deviceOf } from './fs-device';
import { registryOf } from './registry';
import { ContainerScraper, ScrapeLogger } from './scrape';

export interface ContainerMetricsOptions {
  containerd: ContainerdClient;
  /** containerd's root and snapshotter: where the writable layers live (the fs `device` label). */
  containerdRoot: string;
  snapshotter: string;
  logger?: ScrapeLogger;
}

export class ContainerMetrics {
  readonly scraper: ContainerScraper;

  constructor(opts: ContainerMetricsOptions) {
    const device = deviceOf(path.join(opts.containerdRoot, `io.containerd.snapshotter.v1.${opts.snapshotter}`));
    this.scraper = new ContainerScraper({ containerd: opts.containerd, device, ...(opts.logger ? { logger: opts.logger } : {}) });
  }

  async registry(signal?: AbortSignal): Promise<Registry> {
    return registryOf(containerFamilies(await this.scraper.scrape(signal)));
  }
}
