// An in-memory index of records by id, with the unique-prefix lookup crictl users rely on. Only ever a
// cache of what containerd holds: each owner rebuilds it from containerd at start.
import { notFound } from '../errors';

export class IdIndex<T extends { id: string }> {
  private readonly byId = new Map<string, T>();

  constructor(private readonly what: string) {}

  replaceAll(records: Iterable<T>): void {
    this.byId.clear();
    for (const r of records) this.byId.set(r.id, r);
  }

  add(rec: T): void {
    this.byId.set(rec.id, rec);
  }

  delete(id: string): void {
    this.byId.delete(id);
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  /** A full id or a unique prefix; undefined when none matches or the prefix is ambiguous. */
  find(idOrPrefix: string): T | undefined {
    if (idOrPrefix === '') return undefined;
    const exact = this.byId.get(idOrPrefix);
    if (exact) return exact;
    let found: T | undefined;
    for (const [id, rec] of this.byId) {
      if (id.startsWith(idOrPrefix)) {
        if (found) return undefined;
        found = rec;
      }
    }
    return found;
  }

  mustFind(idOrPrefix: string): T {
    const rec = this.find(idOrPrefix);
    if (!rec) throw notFound(`${this.what} "${idOrPrefix}" not found`);
    return rec;
  }

  all(): T[] {
    return [...this.byId.values()];
  }
}
