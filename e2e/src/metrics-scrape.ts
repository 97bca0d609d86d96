// Reads a Prometheus /metrics endpoint for tests and the bench: fetched over loopback, parsed with
// parse-prometheus-text-format (no regex on lines), looked up by name and labels.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { PromFamily, PromSample } from 'parse-prometheus-text-format';

export class MetricsPage {
  private readonly byName: Map<string, PromFamily>;

  constructor(readonly families: PromFamily[]) {
    this.byName = new Map(families.map((f) => [f.name, f]));
  }

  family(name: string): PromFamily | undefined {
    return this.byName.get(name);
  }

  /** The plain samples (counters, gauges) of `name` whose labels include `labels`. */
  samples(name: string, labels: Record<string, string> = {}): { labels: Record<string, string>; value: number }[] {
    const f = this.byName.get(name);
    if (!f) return [];
    return f.metrics
      .filter((m): m is PromSample => 'value' in m)
      .filter((m) => Object.entries(labels).every(([k, v]) => (m.labels ?? {})[k] === v))
      .map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }));
  }

  /** The one sample of `name` matching `labels`; undefined when none, throws when several. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const s = this.samples(name, labels);
    if (s.length > 1) throw new Error(`${s.length} series of ${name} match ${JSON.stringify(labels)}`);
    return s[0]?.value;
  }
}

/** GET `url` (http://127.0.0.1:port/metrics) and parse it. */
export async function scrapeMetrics(url: string): Promise<MetricsPage> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text}`);
  return new MetricsPage(parsePrometheusTextFormat(text));
}
