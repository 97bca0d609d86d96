// Just enough of a Kubernetes API server for `kubectl exec/attach` to reach crisp's streaming
// server with a real client-go: discovery, one pod, and the exec/attach upgrade, which it forwards
// byte for byte to the URL the CRI Exec/Attach call returned (as the API server and kubelet proxy
// it). Loopback only.
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { makeTempDir } from '../tmp';

export interface FakePodContainer {
  name: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
}

export interface StreamQuery {
  kind: 'exec' | 'attach';
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface FakeApiServerOptions {
  /** The one pod served, in namespace `default`. */
  pod: string;
  containers: FakePodContainer[];
  /** The streaming URL for a kubectl exec/attach (the CRI Exec/Attach call). */
  streamUrl(query: StreamQuery): Promise<string>;
}

export interface FakeApiServer {
  url: string;
  /** The Upgrade header of each exec/attach request kubectl made (`websocket`, `SPDY/3.1`), in order. */
  readonly upgrades: string[];
  /** `kubectl --server <url> ...args`, with `input` on its stdin. */
  kubectl(args: string[], opts?: { input?: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startFakeApiServer(opts: FakeApiServerOptions): Promise<FakeApiServer> {
  const podPath = `/api/v1/namespaces/default/pods/${opts.pod}`;
  const sockets = new Set<Duplex>();
  const upgrades: string[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/api') return sendJson(res, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
    if (path === '/apis') return sendJson(res, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/version') return sendJson(res, { major: '1', minor: '32', gitVersion: 'v1.32.0' });
    if (path === '/api/v1') {
      return sendJson(res, {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
          { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
          { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
        ],
      });
    }
    if (path === podPath) {
      return sendJson(res, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: opts.pod, namespace: 'default' },
        spec: { containers: opts.containers.map((c) => ({ image: 'unused', ...c })) },
        status: { phase: 'Running' },
      });
    }
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    upgrades.push(String(req.headers.upgrade ?? ''));
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const u = new URL(req.url ?? '/', 'http://fake');
    const kind = u.pathname === `${podPath}/exec` ? 'exec' : u.pathname === `${podPath}/attach` ? 'attach' : undefined;
    if (!kind) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const q = u.searchParams;
    const query: StreamQuery = {
      kind,
      container: q.get('container') ?? opts.containers[0]!.name,
      command: q.getAll('command'),
      stdin: q.get('stdin') === 'true',
      stdout: q.get('stdout') === 'true',
      stderr: q.get('stderr') === 'true',
      tty: q.get('tty') === 'true',
    };
    opts.streamUrl(query).then(
      (streamUrl) => {
        const target = new URL(streamUrl);
        const upstream = net.connect(Number(target.port), target.hostname, () => {
          // The client's own upgrade request, re-addressed: headers (protocols, keys) unchanged.
          const lines = [`${req.method} ${target.pathname} HTTP/1.1`];
          for (let i = 0; i < req.rawHeaders.length; i += 2) {
            const name = req.rawHeaders[i]!;
            lines.push(`${name}: ${name.toLowerCase() === 'host' ? target.host : req.rawHeaders[i + 1]}`);
          }
          upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
          if (head.length > 0) upstream.write(head);
          upstream.pipe(socket);
          socket.pipe(upstream);
        });
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
      },
      (err: unknown) => {
        const body = err instanceof Error ? err.message : String(err);
        socket.end(`HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      },
    );
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  // kubectl's discovery cache, kept out of the real home directory.
  const cacheDir = makeTempDir('crisp-e2e-kubectl-');
  return {
    url,
    upgrades,
    kubectl: (args, o = {}) =>
      new Promise((resolve) => {
        const child = execFile(
          'kubectl',
          ['--server', url, '--cache-dir', cacheDir, '--request-timeout', '60s', ...args],
          { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...o.env }, timeout: 120_000 },
          (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
        );
        child.stdin?.end(o.input ?? '');
      }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
