// The in-memory index of crisp's sandboxes. It is only a cache: load() rebuilds it from containerd
// (the containers crisp labelled as sandboxes), so a crisp restart loses nothing.
import type { ContainerdClient } from '@crisp/containerd';
import type { Logger } from '../log';
import { IdIndex } from '../store/id-index';
import { kindFilter } from '../store/labels';
import { SandboxRecord, recordFromExtensions } from './record';
import { podKey } from './reservations';

export class SandboxStore extends IdIndex<SandboxRecord> {
  constructor() {
    super('pod sandbox');
  }

  async load(containerd: ContainerdClient, logger: Logger, signal?: AbortSignal): Promise<void> {
    const { containers } = await containerd.containers.list({ filters: [kindFilter('sandbox')] }, { signal });
    const records: SandboxRecord[] = [];
    for (const c of containers) {
      try {
        const rec = recordFromExtensions(c.id, c.extensions);
        if (rec) records.push(rec);
        else logger.warn({ podSandboxId: c.id }, 'sandbox container without crisp extensions: ignored');
      } catch (err) {
        logger.warn({ podSandboxId: c.id, err }, 'unreadable sandbox record: ignored');
      }
    }
    this.replaceAll(records);
  }

  byPodKey(key: string): SandboxRecord | undefined {
    return this.all().find((rec) => rec.config.metadata !== undefined && podKey(rec.config.metadata) === key);
  }
}
