// Shared by the unit tests of the streaming code: TCP sockets, servers and ports on 127.0.0.1.
import { once } from 'node:events';
import * as net from 'node:net';

/** A connected pair of TCP sockets on 127.0.0.1: [client side, server side]. */
export async function socketPair(opts: { allowHalfOpen?: boolean } = {}): Promise<[net.Socket, net.Socket]> {
  const allowHalfOpen = opts.allowHalfOpen ?? false;
  const server = net.createServer({ allowHalfOpen });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const accepted = once(server, 'connection');
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
  const [serverSide] = (await accepted) as [net.Socket];
  await once(client, 'connect');
  server.close();
  return [client, serverSide];
}

export interface LoopbackServer {
  port: number;
  /** Its open connections. */
  sockets: Set<net.Socket>;
  /** Destroys the open connections and stops listening. */
  close(): void;
}

/** A TCP server on 127.0.0.1 that hands each connection to `onConn`. */
export async function tcpServer(onConn: (s: net.Socket) => void, opts: { allowHalfOpen?: boolean } = {}): Promise<LoopbackServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onConn(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** A port nothing listens on, on 127.0.0.1 in this network namespace (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Everything `s` receives until its end, as UTF-8; rejects on a socket error. */
export const readText = (s: net.Socket): Promise<string> =>
  new Promise((resolve, reject) => {
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
