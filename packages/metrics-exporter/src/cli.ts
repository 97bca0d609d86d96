#!/usr/bin/env node
// crisp-metrics-exporter: serves /metrics with cAdvisor-named container metrics read from containerd,
// for containers of any CRI runtime over containerd (crisp, containerd's CRI plugin), plus the
// exporter's own process metrics. Logs are JSON lines on stderr.
import { ContainerdClient } from '@crisp/containerd';
import { parseArgs } from 'node:util';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ContainerMetrics } from './exporter';
import { serveMetrics } from './http';

const USAGE = `Usage: crisp-metrics-exporter [options]
  --listen HOST:PORT          where to serve /metrics and /healthz (default 127.0.0.1:9101)
  --containerd-address PATH   containerd's socket (default /run/containerd/containerd.sock)
  --namespace NS              containerd namespace of the containers (default k8s.io)
  --containerd-root DIR       containerd's root, for the fs device label (default /var/lib/containerd)
  --snapshotter NAME          the containers' snapshotter (default overlayfs)
  --log-level debug|info|warn (default info)
`;

const LEVELS = { debug: 20, info: 30, warn: 40 } as const;
type Level = keyof typeof LEVELS;

function logger(min: Level): Record<Level, (obj: object, msg: string) => void> {
  const write = (level: Level) => (obj: object, msg: string): void => {
    if (LEVELS[level] < LEVELS[min]) return;
    const fields = Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, v instanceof Error ? { message: v.message, name: v.name } : v]));
    process.stderr.write(`${JSON.stringify({ level, time: new Date().toISOString(), msg, ...fields })}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn') };
}

function fail(message: string): never {
  process.stderr.write(`crisp-metrics-exporter: ${message}\n\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        listen: { type: 'string', default: '127.0.0.1:9101' },
        'containerd-address': { type: 'string', default: '/run/containerd/containerd.sock' },
        namespace: { type: 'string', default: 'k8s.io' },
        'containerd-root': { type: 'string', default: '/var/lib/containerd' },
        snapshotter: { type: 'string', default: 'overlayfs' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const level = values['log-level'];
  if (!(level in LEVELS)) fail(`--log-level must be one of ${Object.keys(LEVELS).join(', ')}, got "${level}"`);
  const log = logger(level as Level);
  let containerd: ContainerdClient;
  try {
    containerd = new ContainerdClient({ address: values['containerd-address'], namespace: values.namespace, defaultTimeoutMs: 20_000 });
  } catch (err) {
    fail((err as Error).message);
  }
  const metrics = new ContainerMetrics({ containerd, containerdRoot: values['containerd-root'], snapshotter: values.snapshotter, logger: log });
  const own = new Registry();
  collectDefaultMetrics({ register: own });
  let server;
  try {
    server = await serveMetrics({ address: values.listen, gather: async (signal) => [await metrics.registry(signal), own], logger: log });
  } catch (err) {
    fail((err as Error).message);
  }
  log.info({ address: server.address, containerd: containerd.address, namespace: containerd.namespace }, 'serving /metrics');
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping');
    void server.close().then(() => {
      containerd.close();
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main();
