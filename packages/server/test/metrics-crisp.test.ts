import { cri } from '@crisp/api';
import { containerMetricNames } from '@crisp/metrics-exporter';
import { Status } from 'nice-grpc-common';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import parseText from 'parse-prometheus-text-format';
import { loadConfig } from '../src/config/load';
import { validateConfig } from '../src/config/schema';
import { CrispMetrics } from '../src/metrics';

async function page(m: CrispMetrics): Promise<Map<string, ReturnType<typeof parseText>[number]>> {
  return new Map(parseText(await m.registry.metrics()).map((f) => [f.name, f]));
}

function sample(f: ReturnType<typeof parseText>[number] | undefined, labels: Record<string, string> = {}): number | undefined {
  const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return m && 'value' in m ? Number(m.value) : undefined;
}

describe('crisp metrics', () => {
  it('counts CRI calls by method and code, with latency and calls in flight', async () => {
    const m = new CrispMetrics();
    m.rpc.started!('ContainerStatus');
    m.rpc.started!('ContainerStatus');
    let p = await page(m);
    expect(sample(p.get('crisp_cri_requests_in_flight'), { method: 'ContainerStatus' })).toBe(2);
    m.rpc.finished!('ContainerStatus', Status.NOT_FOUND, 0.002);
    m.rpc.finished!('ContainerStatus', Status.OK, 0.004);
    p = await page(m);
    expect(sample(p.get('crisp_cri_requests_in_flight'), { method: 'ContainerStatus' })).toBe(0);
    expect(sample(p.get('crisp_cri_requests_total'), { method: 'ContainerStatus', code: 'NOT_FOUND' })).toBe(1);
    expect(sample(p.get('crisp_cri_requests_total'), { method: 'ContainerStatus', code: 'OK' })).toBe(1);
    expect(await m.registry.getSingleMetricAsString('crisp_cri_request_duration_seconds')).toContain('crisp_cri_request_duration_seconds_count{method="ContainerStatus"} 2');
  });

  it('labels containerd calls by service and method, and counts pulls and CNI failures', async () => {
    const m = new CrispMetrics();
    m.containerd.finished('/containerd.services.tasks.v1.Tasks/Metrics', Status.OK, 0.01);
    m.containerd.finished('/containerd.services.containers.v1.Containers/Get', Status.NOT_FOUND, 0.001);
    m.onPulled(1000, 2, true);
    m.onPulled(24, 1, false);
    m.cni.finished('ADD', 0.5, true);
    m.cni.finished('DEL', 0.1, false);
    const text = await m.registry.metrics();
    expect(text).toContain('crisp_containerd_request_duration_seconds_count{service="Tasks",method="Metrics",code="OK"} 1');
    expect(text).toContain('crisp_containerd_request_duration_seconds_count{service="Containers",method="Get",code="NOT_FOUND"} 1');
    expect(text).toContain('crisp_image_pull_duration_seconds_count{result="failure"} 1');
    expect(text).toContain('crisp_cni_operation_duration_seconds_count{operation="ADD"} 1');
    const p = await page(m);
    expect(sample(p.get('crisp_image_pull_bytes_total'))).toBe(1024);
    expect(sample(p.get('crisp_cni_operation_errors_total'), { operation: 'DEL' })).toBe(1);
    expect(sample(p.get('crisp_cni_operation_errors_total'), { operation: 'ADD' })).toBeUndefined();
  });

  it('reads pods, containers and event reconnects from their source at every scrape', async () => {
    const m = new CrispMetrics();
    let containers = [cri.ContainerState.CONTAINER_RUNNING, cri.ContainerState.CONTAINER_RUNNING, cri.ContainerState.CONTAINER_EXITED];
    let subscriptions = 1;
    m.watch({
      sandboxStates: async () => [cri.PodSandboxState.SANDBOX_READY, cri.PodSandboxState.SANDBOX_NOTREADY],
      containerStates: () => containers,
      eventSubscriptions: () => subscriptions,
    });
    let p = await page(m);
    expect(sample(p.get('crisp_containers'), { state: 'running' })).toBe(2);
    expect(sample(p.get('crisp_containers'), { state: 'exited' })).toBe(1);
    expect(sample(p.get('crisp_containers'), { state: 'created' })).toBe(0);
    expect(sample(p.get('crisp_pod_sandboxes'), { state: 'ready' })).toBe(1);
    expect(sample(p.get('crisp_event_stream_reconnects_total'))).toBe(0);
    containers = [];
    subscriptions = 3;
    p = await page(m);
    expect(sample(p.get('crisp_containers'), { state: 'running' })).toBe(0);
    expect(sample(p.get('crisp_event_stream_reconnects_total'))).toBe(2);
    expect(p.get('process_cpu_seconds_total')).toBeDefined();
  });
});

describe('the Grafana dashboard', () => {
  const file = path.resolve(__dirname, '../../../deploy/grafana/crisp-dashboard.json');
  type Panel = { title?: string; type?: string; targets?: { expr?: string }[]; panels?: Panel[] };
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { title: string; uid: string; schemaVersion: number; panels: Panel[]; templating: { list: { query?: { query?: string } | string }[] } };

  it('is a dashboard with panels and queries', () => {
    expect(typeof dashboard.title).toBe('string');
    expect(dashboard.uid).toMatch(/^[a-z0-9-]+$/);
    expect(dashboard.schemaVersion).toBeGreaterThan(30);
    const queries = dashboard.panels.flatMap((p) => p.targets ?? []);
    expect(queries.length).toBeGreaterThan(10);
    for (const q of queries) expect(q.expr).toBeTruthy();
  });

  it('queries only metrics the exporter or crisp publishes', async () => {
    const crisp = new CrispMetrics();
    const published = new Set<string>(containerMetricNames());
    for (const m of await crisp.registry.getMetricsAsJSON()) {
      published.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) published.add(m.name + s);
    }
    const exprs = [
      ...dashboard.panels.flatMap((p) => [...(p.targets ?? []), ...(p.panels ?? []).flatMap((c) => c.targets ?? [])]).map((t) => t.expr ?? ''),
      ...dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : (v.query?.query ?? ''))),
    ];
    const used = new Set<string>();
    for (const e of exprs) {
      // Metric names are identifiers with a known prefix; label values sit in quotes and are dropped first.
      for (const name of e.replace(/"[^"]*"/g, '""').match(/\b(?:container|crisp|process|nodejs)_[a-z0-9_]+/g) ?? []) used.add(name);
    }
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((n) => !published.has(n))).toEqual([]);
  });
});

describe('the metrics config', () => {
  it('is off by default, takes host:port, and names the key of a bad value', async () => {
    expect(validateConfig({}).metrics.address).toBe('');
    expect(validateConfig({ metrics: { address: '127.0.0.1:9101' } }).metrics.address).toBe('127.0.0.1:9101');
    expect(validateConfig({ metrics: { address: '[::1]:9101' } }).metrics.address).toBe('[::1]:9101');
    expect(() => validateConfig({ metrics: { address: 'localhost' } })).toThrow('config: metrics.address: must be host:port');
    expect(() => validateConfig({ metrics: { port: 1 } })).toThrow('config: metrics.port: unknown key');
    const loaded = await loadConfig({ configFile: '/dev/null', metricsAddress: '127.0.0.1:9300' }, {});
    expect(loaded.config.metrics.address).toBe('127.0.0.1:9300');
    expect((await loadConfig({ configFile: '/dev/null' }, { CRISP_METRICS_ADDRESS: '0.0.0.0:9400' })).config.metrics.address).toBe('0.0.0.0:9400');
  });
});
