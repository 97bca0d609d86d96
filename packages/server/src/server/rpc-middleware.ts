// One wrapper around every RPC: it logs the method, the ids involved, the gRPC code and the duration,
// and turns whatever a handler throws into a precise gRPC status (see errors.ts).
import { CallContext, ServerMiddleware, ServerMiddlewareCall, Status } from 'nice-grpc-common';
import { statusName, statusOf, toServerError } from '../errors';
import type { Logger } from '../log';

/** Read-only RPCs kubelet calls every few seconds: logged at debug so they don't drown the rest. */
const HIGH_RATE = new Set([
  'Version', 'Status', 'RuntimeConfig', 'ListPodSandbox', 'PodSandboxStatus', 'ListContainers', 'ContainerStatus',
  'ListImages', 'ImageStatus', 'ImageFsInfo', 'ContainerStats', 'ListContainerStats', 'PodSandboxStats',
  'ListPodSandboxStats', 'ListMetricDescriptors', 'ListPodSandboxMetrics', 'Check', 'List', 'Watch',
  'StreamPodSandboxes', 'StreamContainers', 'StreamImages', 'StreamContainerStats', 'StreamPodSandboxStats',
  'StreamPodSandboxMetrics',
]);

/** Statuses that mean crisp (or something under it) failed, as opposed to the caller asking for something wrong. */
const SERVER_FAULTS = new Set([Status.INTERNAL, Status.UNKNOWN, Status.DATA_LOSS, Status.UNAVAILABLE]);

export interface RpcIds {
  podSandboxId?: string;
  containerId?: string;
  image?: string;
  name?: string;
}

/** Picks the ids worth logging out of a CRI request or response. */
export function idsOf(message: unknown): RpcIds {
  if (typeof message !== 'object' || message === null) return {};
  const m = message as Record<string, unknown>;
  const ids: RpcIds = {};
  if (typeof m['podSandboxId'] === 'string' && m['podSandboxId']) ids.podSandboxId = m['podSandboxId'];
  if (typeof m['containerId'] === 'string' && m['containerId']) ids.containerId = m['containerId'];
  const image = m['image'];
  if (typeof image === 'object' && image !== null && typeof (image as Record<string, unknown>)['image'] === 'string') {
    ids.image = (image as Record<string, string>)['image'];
  }
  const config = m['config'];
  if (typeof config === 'object' && config !== null) {
    const md = (config as Record<string, unknown>)['metadata'] as Record<string, unknown> | undefined;
    if (md && typeof md['name'] === 'string') {
      ids.name = typeof md['namespace'] === 'string' ? `${md['namespace']}/${md['name']}` : md['name'];
    }
  }
  return ids;
}

export interface RpcObserver {
  started?(method: string): void;
  finished?(method: string, code: Status, seconds: number): void;
}

export function rpcMiddleware(logger: Logger, observer: RpcObserver = {}): ServerMiddleware {
  return async function* wrap<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const method = call.method.path.slice(call.method.path.lastIndexOf('/') + 1);
    const start = process.hrtime.bigint();
    const reqIds = call.requestStream ? {} : idsOf(call.request);
    observer.started?.(method);
    const done = (code: Status, resIds: RpcIds, err?: unknown): void => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      observer.finished?.(method, code, seconds);
      const fields = { rpc: method, ...reqIds, ...resIds, code: statusName(code), durationMs: Math.round(seconds * 1e6) / 1e3 };
      if (err === undefined) {
        if (HIGH_RATE.has(method)) logger.debug(fields, 'rpc');
        else logger.info(fields, 'rpc');
      } else if (SERVER_FAULTS.has(code)) {
        logger.error({ ...fields, err }, 'rpc failed');
      } else if (HIGH_RATE.has(method) || code === Status.UNIMPLEMENTED) {
        logger.debug({ ...fields, error: (err as Error).message }, 'rpc failed');
      } else {
        logger.info({ ...fields, error: (err as Error).message }, 'rpc failed');
      }
    };
    try {
      const response = yield* call.next(call.request, context);
      done(Status.OK, call.responseStream ? {} : idsOf(response));
      return response;
    } catch (err) {
      const serverError = toServerError(err);
      // A call whose client went away is CANCELLED whatever the handler threw while unwinding.
      const code = context.signal.aborted ? Status.CANCELLED : statusOf(serverError);
      done(code, {}, err);
      throw serverError;
    }
  };
}
