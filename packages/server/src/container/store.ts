// The in-memory index of crisp's containers: rebuilt from containerd at start (see IdIndex).
import type { ContainerdClient } from '@crisp/containerd';
import type { Logger } from '../log';
import { IdIndex } from '../store/id-index';
import { kindFilter } from '../store/labels';
import { ContainerRecord, containerFromExtensions } from './record';

export class ContainerStore extends IdIndex<ContainerRecord> {
  constructor() {
    super('container');
  }

  async load(containerd: ContainerdClient, logger: Logger, signal?: AbortSignal): Promise<void> {
    const { containers } = await containerd.containers.list({ filters: [kindFilter('container')] }, { signal });
    const records: ContainerRecord[] = [];
    for (const c of containers) {
      try {
        const rec = containerFromExtensions(c.id, c.extensions);
        if (rec) records.push(rec);
        else logger.warn({ containerId: c.id }, 'container without crisp extensions: ignored');
      } catch (err) {
        logger.warn({ containerId: c.id, err }, 'unreadable container record: ignored');
      }
    }
    this.replaceAll(records);
  }

  inSandbox(sandboxId: string): ContainerRecord[] {
    return this.all().filter((c) => c.sandboxId === sandboxId);
  }

  byName(sandboxId: string, name: string, attempt: number): ContainerRecord | undefined {
    return this.all().find((c) => c.sandboxId === sandboxId && c.config.metadata?.name === name && c.config.metadata.attempt === attempt);
  }
}
