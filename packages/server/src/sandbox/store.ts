// The in-memory index of crisp's sandboxes. It is only a cache: load() rebuilds it from containerd
// (the containers crisp labelled as sandboxes), so a crisp restart loses nothing.
import type { ContainerdClient } from '@crisp/containerd';
import { notFound } from '../errors';
import type { Logger } from '../log';
import { kindFilter } from '../store/labels';
import { SandboxRecord, recordFromExtensions } from './record';
import { podKey } from './reservations';

export class SandboxStore {
  private readonly byId = new Map<string, SandboxRecord>();

  async load(containerd: ContainerdClient, logger: Logger, signal?: AbortSignal): Promise<void> {
    const { containers } = await containerd.containers.list({ filters: [kindFilter('sandbox')] }, { signal });
    this.byId.clear();
    for (const c of containers) {
      try {
        const rec = recordFromExtensions(c.id, c.extensions);
        if (rec) this.byId.set(c.id, rec);
        else logger.warn({ podSandboxId: c.id }, 'sandbox container without crisp extensions: ignored');
      } catch (err) {
        logger.warn({ podSandboxId: c.id, err }, 'unreadable sandbox record: ignored');
      }
    }
  }

  add(rec: SandboxRecord): void {
    this.byId.set(rec.id, rec);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  get(id: string): SandboxRecord | undefined {
    return this.byId.get(id);
  }

  /** A full id or a unique prefix (as crictl passes them); undefined when none or ambiguous. */
  find(idOrPrefix: string): SandboxRecord | undefined {
    if (idOrPrefix === '') return undefined;
    const exact = this.byId.get(idOrPrefix);
    if (exact) return exact;
    let found: SandboxRecord | undefined;
    for (const [id, rec] of this.byId) {
      if (id.startsWith(idOrPrefix)) {
        if (found) return undefined;
        found = rec;
      }
    }
    return found;
  }

  mustFind(idOrPrefix: string): SandboxRecord {
    const rec = this.find(idOrPrefix);
    if (!rec) throw notFound(`pod sandbox "${idOrPrefix}" not found`);
    return rec;
  }

  byPodKey(key: string): SandboxRecord | undefined {
    for (const rec of this.byId.values()) {
      if (rec.config.metadata && podKey(rec.config.metadata) === key) return rec;
    }
    return undefined;
  }

  all(): SandboxRecord[] {
    return [...this.byId.values()];
  }
}
