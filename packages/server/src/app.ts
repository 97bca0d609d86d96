// crisp's lifecycle: pick (or start) containerd, serve on the socket, and shut down gracefully.
import { ContainerdClient, LeasePool } from '@crisp/containerd';
import { RegistryClient } from '@crisp/registry';
import { Puller } from './image/pull';
import { configureFifoPool } from './logs/fifo';
import { SANDBOX_OP_TIMEOUT_MS, SandboxManager } from './sandbox/manager';
import { CONTAINER_OP_TIMEOUT_MS, ContainerManager } from './container/manager';
import { leaseLabels } from './store/labels';
import { ContainerEventBroadcaster, EventMonitor } from './events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from './config/load';
import type { CrispConfig } from './config/schema';
import type { CrispContext } from './context';
import { ManagedContainerd, startManagedContainerd } from './devmode';
import { health } from '@crisp/api';
import type { Logger } from './log';
import { createCrispServer } from './server/server';
import { listenUnix, removeSocket } from './server/socket';
import { crispVersion } from './version';
import { StreamingServer } from './streaming/server';
import { createPortForwardHandler } from './streaming/portforward';
import { CrispMetrics, startMetricsEndpoint } from './metrics';
import { observeCni } from './network/cni';

/** In-flight RPCs get this long to finish on shutdown before they are cut off. */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface RunningCrisp {
  readonly config: CrispConfig;
  readonly socket: string;
  readonly containerd: ContainerdClient;
  /** Set when crisp started its own containerd (dev mode). */
  readonly managed?: ManagedContainerd;
  stop(): Promise<void>;
}

async function containerdAnswers(config: CrispConfig): Promise<boolean> {
  const probe = new ContainerdClient({ address: config.containerd.address, namespace: config.containerd.namespace });
  try {
    await probe.ping({ timeoutMs: 2000 });
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

/**
 * Starts a private containerd when asked to (`managed = "always"`), or when nothing answers at the default
 * address and none was configured (`managed = "auto"`): a fresh machine then works with no setup.
 */
async function chooseContainerd(loaded: LoadedConfig, logger: Logger): Promise<{ config: CrispConfig; managed?: ManagedContainerd }> {
  const { config } = loaded;
  const mode = config.containerd.managed;
  const wantManaged =
    mode === 'always' || (mode === 'auto' && !loaded.containerdAddressConfigured && !(await containerdAnswers(config)));
  if (!wantManaged) return { config };
  const dir = path.join(config.stateDir, 'containerd');
  logger.info({ dir, binary: config.containerd.binary }, 'no containerd configured or answering: starting a private one');
  const managed = await startManagedContainerd({ dir, binary: config.containerd.binary });
  logger.info({ address: managed.address, pid: managed.pid, log: managed.logPath }, 'private containerd ready');
  return { config: { ...config, containerd: { ...config.containerd, address: managed.address, root: path.join(dir, 'root') } }, managed };
}

export async function startCrisp(loaded: LoadedConfig, logger: Logger): Promise<RunningCrisp> {
  await fs.mkdir(loaded.config.stateDir, { recursive: true, mode: 0o711 });
  await configureFifoPool(path.join(loaded.config.stateDir, 'io', '.pool'));
  const { config, managed } = await chooseContainerd(loaded, logger);
  // Metrics (off by default): the hooks are wired only when the endpoint is on.
  const metrics = config.metrics.address ? new CrispMetrics() : undefined;
  observeCni(metrics?.cni);
  const containerd = new ContainerdClient({ address: config.containerd.address, namespace: config.containerd.namespace, ...(metrics ? { observer: metrics.containerd } : {}) });
  const registry = new RegistryClient({ configDir: config.registry.configPath, logger: logger.child({ component: 'registry' }) });
  const puller = new Puller({
    containerd,
    registry,
    snapshotter: config.containerd.snapshotter,
    maxConcurrentDownloads: config.registry.maxConcurrentDownloads,
    progressTimeoutMs: config.registry.pullProgressTimeoutSeconds * 1000,
    logger: logger.child({ component: 'pull' }),
    ...(metrics ? { onPulled: metrics.onPulled } : {}),
  });
  // Shared by RunPodSandbox and CreateContainer: a lease made ahead is one containerd write less on the way.
  const leases = new LeasePool({
    leases: containerd.leases,
    idPrefix: 'crisp-create-',
    labels: leaseLabels,
    holdMs: Math.max(SANDBOX_OP_TIMEOUT_MS, CONTAINER_OP_TIMEOUT_MS),
    onError: (err) => logger.debug({ err }, 'lease pool: a spare lease could not be made or deleted'),
  });
  let ctx: CrispContext | undefined;
  const monitor = new EventMonitor({ containerd, logger: logger.child({ component: 'events' }) });
  const containerEvents = new ContainerEventBroadcaster({ logger: logger.child({ component: 'container-events' }) });
  const sandboxes: SandboxManager = new SandboxManager({ config, containerd, logger: logger.child({ component: 'sandbox' }), puller, leases, ctx: () => ctx!, monitor, containers: (): ContainerManager => containers });
  const containers: ContainerManager = new ContainerManager({
    config,
    containerd,
    leases,
    logger: logger.child({ component: 'container' }),
    sandboxes,
    monitor,
    events: containerEvents,
    ctx: () => ctx!,
  });
  const streaming = new StreamingServer({ config: config.streaming, logger, ctx: () => ctx!, portForward: createPortForwardHandler({ logger }) });
  ctx = { config, containerd, logger, version: crispVersion(), puller, sandboxes, containers, containerEvents, streaming };
  // State lives in containerd: rebuild the indexes from it (retrying while containerd is away), and
  // record the exits that happened while crisp was not watching.
  monitor.start();
  sandboxes.startLoading();
  containers.startLoading();
  const { server, health: healthState } = createCrispServer(ctx, metrics?.rpc);
  let metricsEndpoint: Awaited<ReturnType<typeof startMetricsEndpoint>> | undefined;
  try {
    if (metrics) metricsEndpoint = await startMetricsEndpoint(ctx, metrics, monitor);
    // The streaming URLs that Exec/Attach/PortForward return must work from the first call.
    await streaming.start();
    await listenUnix(config.listen, (address) => server.listen(address));
  } catch (err) {
    await metricsEndpoint?.close();
    await streaming.stop();
    await leases.close();
    containerd.close();
    await managed?.stop();
    throw err;
  }
  logger.info(
    { listen: config.listen, containerd: config.containerd.address, namespace: config.containerd.namespace, version: ctx.version },
    'crisp serving',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('shutting down: no new calls, waiting for in-flight ones');
      healthState.setAll(health.HealthCheckResponse_ServingStatus.NOT_SERVING);
      // Open GetContainerEvents streams would hold the graceful shutdown for its whole grace period.
      containerEvents.close();
      let timer: NodeJS.Timeout | undefined;
      const graceful = server.shutdown().then(() => true);
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), SHUTDOWN_GRACE_MS)));
      if (!(await Promise.race([graceful, timeout]))) {
        logger.warn({ graceMs: SHUTDOWN_GRACE_MS }, 'in-flight calls did not finish in time: cutting them off');
        server.forceShutdown();
      }
      clearTimeout(timer);
      await streaming.stop();
      await metricsEndpoint?.close();
      await removeSocket(config.listen);
      await monitor.stop();
      await leases.close();
      containerd.close();
      registry.close();
      if (managed) {
        logger.info({ pid: managed.pid }, 'stopping the private containerd');
        await managed.stop();
      }
      logger.info('crisp stopped');
    })());

  return { config, socket: config.listen, containerd, ...(managed ? { managed } : {}), stop };
}
