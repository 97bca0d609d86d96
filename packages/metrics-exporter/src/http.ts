// The metrics HTTP endpoint: GET /metrics (Prometheus text format) and GET /healthz. Each /metrics
// request gathers its registries anew; concurrent scrapes share the gathering in flight, so a burst
// of scrapers costs one collection. A failed collection answers 500 with the reason.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';

export interface MetricsServerOptions {
  /** host:port; port 0 picks a free one. */
  address: string;
  /** The registries of one scrape, gathered per request. */
  gather: (signal: AbortSignal) => Promise<Registry[]>;
  /** Longest a scrape may take; past it the scrape is aborted and answered 500. Default 30 s. */
  timeoutMs?: number;
  logger?: { warn(obj: object, msg: string): void };
  /** Told of each /metrics request as it arrives, before it joins or starts a gathering. */
  onScrape?(): void;
}

export interface MetricsServer {
  /** host:port actually bound. */
  readonly address: string;
  close(): Promise<void>;
}

/** Splits `host:port` (IPv6 as `[::1]:9101`); throws a message naming what is wrong. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`metrics address must be host:port, got "${address}"`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function serveMetrics(opts: MetricsServerOptions): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(opts.address);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let inflight: Promise<string> | undefined;
  const collect = (): Promise<string> =>
    (inflight ??= (async () => {
      try {
        const registries = await opts.gather(AbortSignal.timeout(timeoutMs));
        return await (registries.length === 1 ? registries[0]! : Registry.merge(registries)).metrics();
      } finally {
        inflight = undefined;
      }
    })());

  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
      return;
    }
    opts.onScrape?.();
    collect().then(
      (text) => res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => {
        opts.logger?.warn({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${(err as Error).message}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
