// Families → a prom-client registry filled for one scrape. A registry built per scrape holds only
// the containers of that scrape: no gauge of a removed container can linger.
import { Counter, Gauge, Registry } from 'prom-client';
import type { Family } from './families';

export function registryOf(families: readonly Family[]): Registry {
  const registry = new Registry();
  for (const f of families) {
    const opts = { name: f.name, help: f.help, labelNames: f.labelNames, registers: [registry] };
    if (f.type === 'counter') {
      const c = new Counter(opts);
      for (const s of f.series) c.inc(s.labels, s.value);
    } else {
      const g = new Gauge(opts);
      for (const s of f.series) g.set(s.labels, s.value);
    }
  }
  return registry;
}
