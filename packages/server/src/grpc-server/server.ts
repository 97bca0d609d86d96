// crisp's gRPC server: ts-proto service definitions and nice-grpc style implementations and middleware,
// served over its own HTTP/2 (connection.ts) on a unix socket or TCP. grpc-js spends about twice the
// CPU of containerd's Go server on each call, most of it in its generic HTTP/2 and call machinery;
// kubelet's reads are small and frequent, so that overhead was most of their latency.
import net from 'node:net';
import { CallContext, composeServerMiddleware, ServerMiddleware } from 'nice-grpc-common';
import type { TsProtoServiceDefinition } from 'nice-grpc';
import { GrpcCall, MethodEntry } from './call';
import { Http2ServerConnection } from './connection';

export interface GrpcServerOptions {
  /** Largest request message accepted (RESOURCE_EXHAUSTED beyond). */
  maxReceiveMessageBytes?: number;
  /** Largest response message sent (RESOURCE_EXHAUSTED beyond). */
  maxSendMessageBytes?: number;
  /** A client broke the HTTP/2 protocol; its connection was closed. */
  onConnectionError?(err: Error): void;
}

const DEFAULT_MAX_RECEIVE = 4 * 1024 * 1024;
const DEFAULT_MAX_SEND = 4 * 1024 * 1024;

type Implementation = (request: unknown, context: CallContext) => unknown;

/** The pieces of a ts-proto message type the server uses. */
interface MessageType {
  decode(input: Uint8Array): unknown;
  encode(message: unknown): { finish(): Uint8Array };
  fromPartial?(object: unknown): unknown;
}

export class GrpcServer {
  private readonly methods = new Map<string, MethodEntry>();
  private readonly connections = new Set<Http2ServerConnection>();
  private readonly listeners: net.Server[] = [];
  private middleware: ServerMiddleware | undefined;
  private readonly limits: { maxReceiveMessageBytes: number; maxSendMessageBytes: number };

  constructor(private readonly options: GrpcServerOptions = {}) {
    this.limits = {
      maxReceiveMessageBytes: options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE,
      maxSendMessageBytes: options.maxSendMessageBytes ?? DEFAULT_MAX_SEND,
    };
  }

  /** Adds a middleware around every method added after it (as nice-grpc's server does). */
  use(middleware: ServerMiddleware): this {
    this.middleware = this.middleware ? composeServerMiddleware(this.middleware, middleware) : middleware;
    return this;
  }

  add<Service extends TsProtoServiceDefinition>(definition: Service, implementation: object): void {
    const impl = implementation as Record<string, Implementation | undefined>;
    for (const [key, method] of Object.entries(definition.methods)) {
      const path = `/${definition.fullName}/${method.name}`;
      if (method.requestStream) throw new Error(`${path}: client-streaming methods are not supported`);
      const fn = impl[key];
      if (typeof fn !== 'function') throw new Error(`${path}: no implementation`);
      const bound = fn.bind(implementation);
      const requestType = method.requestType as MessageType;
      const responseType = method.responseType as MessageType;
      const descriptor = { path, requestStream: false, responseStream: method.responseStream, options: method.options };
      const next = method.responseStream
        ? async function* (request: unknown, context: CallContext): AsyncGenerator<unknown, void, undefined> {
            yield* bound(request, context) as AsyncIterable<unknown>;
          }
        : async function* (request: unknown, context: CallContext): AsyncGenerator<never, unknown, undefined> {
            return await bound(request, context);
          };
      const middleware = this.middleware;
      const handler = middleware
        ? (request: unknown, context: CallContext) =>
            middleware({ method: descriptor, requestStream: false, request, responseStream: method.responseStream, next } as never, context)
        : next;
      this.methods.set(path, {
        descriptor,
        decode: (bytes) => requestType.decode(bytes),
        encode: (value) => responseType.encode(responseType.fromPartial ? responseType.fromPartial(value) : value).finish(),
        handler: handler as MethodEntry['handler'],
      });
    }
  }

  /** Listens on `unix:///path`, `unix:/path` or `host:port`; resolves to the TCP port (0 for a socket). */
  listen(address: string): Promise<number> {
    const unixPath = address.startsWith('unix://') ? address.slice(7) : address.startsWith('unix:') ? address.slice(5) : undefined;
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket, unixPath !== undefined ? `unix:${unixPath}` : undefined));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        this.listeners.push(server);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : 0);
      };
      if (unixPath !== undefined) {
        server.listen(unixPath, done);
      } else {
        const at = address.lastIndexOf(':');
        const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
        server.listen({ host, port: Number(address.slice(at + 1)) }, done);
      }
    });
  }

  private accept(socket: net.Socket, unixPeer: string | undefined): void {
    const peer = unixPeer ?? `${socket.remoteAddress}:${socket.remotePort}`;
    const conn: Http2ServerConnection = new Http2ServerConnection(socket, {
      onStream: (stream) => GrpcCall.start({ stream, methods: this.methods, limits: this.limits, peer }),
      onClose: () => this.connections.delete(conn),
      ...(this.options.onConnectionError ? { onError: this.options.onConnectionError } : {}),
    });
    this.connections.add(conn);
  }

  /** No new connections or calls; resolves once the calls in flight have finished and clients are gone. */
  async shutdown(): Promise<void> {
    const closed = this.listeners.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const c of this.connections) c.goAway();
    await Promise.all(closed);
  }

  /** Cuts every connection: calls in flight are cancelled. */
  forceShutdown(): void {
    for (const s of this.listeners.splice(0)) s.close();
    for (const c of [...this.connections]) c.destroy();
  }
}

export function createGrpcServer(options?: GrpcServerOptions): GrpcServer {
  return new GrpcServer(options);
}
