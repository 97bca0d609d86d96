// The embedded metrics endpoint of `crisp serve` (config [metrics] address, off by default): the
// exporter's container metrics for crisp's containerd namespace, and crisp's own metrics, on one
// /metrics.
import { ContainerMetrics, MetricsServer, serveMetrics } from '@crisp/metrics-exporter';
import type { CrispContext } from '../context';
import type { EventMonitor } from '../events';
import { CrispMetrics } from './crisp-metrics';

export async function startMetricsEndpoint(ctx: CrispContext, metrics: CrispMetrics, monitor: EventMonitor): Promise<MetricsServer> {
  const log = ctx.logger.child({ component: 'metrics' });
  metrics.watch({
    sandboxStates: async () => [...(await ctx.sandboxes.states()).values()].map((s) => s.state),
    containerStates: () => ctx.containers.store.all().map((c) => ctx.containers.stateOf(c.id).state),
    eventSubscriptions: () => monitor.subscriptions,
  });
  const containers = new ContainerMetrics({
    containerd: ctx.containerd,
    containerdRoot: ctx.config.containerd.root,
    snapshotter: ctx.config.containerd.snapshotter,
    logger: log,
  });
  const server = await serveMetrics({
    address: ctx.config.metrics.address,
    gather: async (signal) => [await containers.registry(signal), metrics.registry],
    logger: log,
  });
  log.info({ address: server.address }, 'serving /metrics');
  return server;
}
