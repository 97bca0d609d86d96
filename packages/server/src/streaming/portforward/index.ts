// Port forwarding: what the PortForward RPC resolves (resolvePortForwardTarget) and the handler
// that serves the streaming server's upgraded connections (createPortForwardHandler): SPDY
// (kubelet, kubectl) and WebSocket (crictl --transport websocket). Connections are opened to
// localhost:<port> inside the pod's network namespace by a helper process per namespace
// (netns-dialer.ts); host-network pods are dialled from crisp itself.
import { cri } from '@crisp/api';
import type { CrispContext } from '../../context';
import { failedPrecondition, invalidArgument } from '../../errors';
import type { Logger } from '../../log';
import type { SpdyConnection } from '../spdy';
import type { PortForwardHandler, PortForwardTarget } from '../types';
import type { WebSocket } from 'ws';
import { NetnsDialers } from './netns-dialer';
import { serveSpdyPortForward } from './spdy';
import { serveWebSocketPortForward } from './websocket';

export { endNetnsDialers, NetnsDialers, DialError } from './netns-dialer';
export type { NetnsDialerOptions, PortDialer } from './netns-dialer';
export { portPrefix } from './websocket';
export { forwardError, parsePortHeader } from './spdy';

/** kubelet's default stream creation timeout: how long a pair may wait for its second stream. */
const DEFAULT_PAIR_TIMEOUT_MS = 30_000;
/** After the pod's FIN on a SPDY connection, how long the client's side may go on (containerd: 1 s). */
const DEFAULT_SPDY_GRACE_MS = 1_000;

export interface PortForwardHandlerOptions {
  logger: Logger;
  /** See NetnsDialerOptions. */
  helperScript?: string;
  connectTimeoutMs?: number;
  helperIdleMs?: number;
  maxPendingDials?: number;
  pairTimeoutMs?: number;
  graceMs?: number;
}

export interface PortForwardHandlerWithDialers extends PortForwardHandler {
  /** The helper pool (tests, debugging). */
  readonly dialers: NetnsDialers;
}

export function createPortForwardHandler(options: PortForwardHandlerOptions): PortForwardHandlerWithDialers {
  const logger = options.logger.child({ component: 'port-forward' });
  const dialers = new NetnsDialers({
    logger,
    ...(options.helperScript !== undefined ? { helperScript: options.helperScript } : {}),
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    ...(options.helperIdleMs !== undefined ? { idleMs: options.helperIdleMs } : {}),
    ...(options.maxPendingDials !== undefined ? { maxPending: options.maxPendingDials } : {}),
  });
  const pairTimeoutMs = options.pairTimeoutMs ?? DEFAULT_PAIR_TIMEOUT_MS;
  const graceMs = options.graceMs ?? DEFAULT_SPDY_GRACE_MS;
  /** Open sessions, ended by close(). */
  const sessions = new Set<() => void>();
  let closing = false;

  const track = (end: () => void, dialer: { release(): void }): (() => void) => {
    sessions.add(end);
    return () => {
      sessions.delete(end);
      dialer.release();
    };
  };

  return {
    dialers,
    serveSpdy(conn: SpdyConnection, target: PortForwardTarget): void {
      if (closing) {
        conn.destroy();
        return;
      }
      const dialer = dialers.acquire(target.netnsPath);
      const onClose = track(() => conn.destroy(), dialer);
      serveSpdyPortForward(conn, target, { logger, dialer, pairTimeoutMs, graceMs, onClose });
    },
    serveWebSocket(ws: WebSocket, protocol: string, target: PortForwardTarget, ports: number[]): void {
      if (closing) {
        ws.terminate();
        return;
      }
      const dialer = dialers.acquire(target.netnsPath);
      const onClose = track(() => ws.terminate(), dialer);
      // The client cannot end its direction in v4: once the pod has closed, there is nothing to wait for.
      serveWebSocketPortForward(ws, protocol, target, ports, { logger, dialer, graceMs: 0, onClose });
    },
    async close(): Promise<void> {
      closing = true;
      for (const end of [...sessions]) end();
      await dialers.close();
    },
  };
}

/**
 * What a PortForward RPC forwards to: the sandbox must exist (NOT_FOUND) and be ready
 * (FAILED_PRECONDITION); the ports, when given, must be TCP ports (INVALID_ARGUMENT).
 */
export async function resolvePortForwardTarget(ctx: CrispContext, req: cri.PortForwardRequest): Promise<PortForwardTarget> {
  if (!req.podSandboxId) throw invalidArgument('PortForward: pod_sandbox_id is required');
  const badPort = req.port.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
  if (badPort !== undefined) throw invalidArgument(`PortForward: port ${badPort} is out of range (1-65535)`);
  await ctx.sandboxes.ready();
  const rec = ctx.sandboxes.store.mustFind(req.podSandboxId);
  const { state } = await ctx.sandboxes.state(rec.id);
  if (state !== cri.PodSandboxState.SANDBOX_READY) throw failedPrecondition(`PortForward: pod sandbox ${rec.id} is not ready`);
  return {
    sandboxId: rec.id,
    ...(rec.netnsPath ? { netnsPath: rec.netnsPath } : {}),
    ports: [...req.port],
  };
}
