// The contract between the streaming HTTP server (server.ts: tokens, upgrades, exec/attach) and
// the port-forward module (portforward/): the server validates the URL's token and negotiates the
// upgrade, then hands the connection to the port-forward handler with what the PortForward RPC
// resolved.
import type { WebSocket } from 'ws';
import type { SpdyConnection } from './spdy';

/** Where a port-forward session connects: resolved once, by the PortForward RPC. */
export interface PortForwardTarget {
  sandboxId: string;
  /** The pod's network namespace (a path); undefined for a host-network pod (crisp dials itself). */
  netnsPath?: string;
  /** Ports named in the PortForward request; may be empty (the client names a port per stream). */
  ports: number[];
}

/** Serves port-forward sessions on connections the streaming server has upgraded. */
export interface PortForwardHandler {
  /** `portforward.k8s.io` over SPDY/3.1: an error and a data stream per (port, requestid). */
  serveSpdy(conn: SpdyConnection, target: PortForwardTarget): void;
  /**
   * WebSocket port-forward (`v4.channel.k8s.io` / `portforward.k8s.io` framing: channels 2i data,
   * 2i+1 error for the i-th port of the URL's `port` query parameters).
   */
  serveWebSocket(ws: WebSocket, protocol: string, target: PortForwardTarget, ports: number[]): void;
  /** Ends every session and helper process (crisp's shutdown). */
  close(): Promise<void>;
}
