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

/** The method name of each path ('/runtime.v1.RuntimeService/Version' → 'Version'), worked out once per method. */
const methodNames = new Map<string, string>();
function methodName(path: string): string {
  let name = methodNames.get(path);
  if (name === undefined) {
    name = path.slice(path.lastIndexOf('/') + 1);
    methodNames.set(path, name);
  }
  return name;
}

const NO_IDS: RpcIds = Object.freeze({});

export function rpcMiddleware(logger: Logger, observer: RpcObserver = {}): ServerMiddleware {
  return async function* wrap<Request, Response>(
    call: ServerMiddlewareCall<Request, Response>,
    context: CallContext,
  ): AsyncGenerator<Response, Response | void, undefined> {
    const method = methodName(call.method.path);
    const highRate = HIGH_RATE.has(method);
    const start = process.hrtime.bigint();
    // The ids only serve the log line: kubelet's frequent reads skip them when it is not written.
    const okLogged = logger.isLevelEnabled(highRate ? 'debug' : 'info');
    let reqIds = okLogged && !call.requestStream ? idsOf(call.request) : NO_IDS;
    observer.started?.(method);
    const elapsed = (): number => Number(process.hrtime.bigint() - start) / 1e9;
    const fieldsOf = (code: Status, resIds: RpcIds, seconds: number): Record<string, unknown> => ({
      rpc: method,
      ...reqIds,
      ...resIds,
      code: statusName(code),
      durationMs: Math.round(seconds * 1e6) / 1e3,
    });
    let response: Response | void;
    try {
      response = yield* call.next(call.request, context);
    } catch (err) {
      const serverError = toServerError(err);
      // A call whose client went away is CANCELLED whatever the handler threw while unwinding.
      const code = context.signal.aborted ? Status.CANCELLED : statusOf(serverError);
      const seconds = elapsed();
      observer.finished?.(method, code, seconds);
      if (!okLogged && !call.requestStream) reqIds = idsOf(call.request);
      const fields = fieldsOf(code, NO_IDS, seconds);
      if (SERVER_FAULTS.has(code)) {
        logger.error({ ...fields, err }, 'rpc failed');
      } else if (highRate || code === Status.UNIMPLEMENTED) {
        logger.debug({ ...fields, error: (err as Error).message }, 'rpc failed');
      } else {
        logger.info({ ...fields, error: (err as Error).message }, 'rpc failed');
      }
      throw serverError;
    }
    const seconds = elapsed();
    // A handler that stops quietly once its client went away (a Watch, an events stream) did not answer it.
    const code = context.signal.aborted ? Status.CANCELLED : Status.OK;
    observer.finished?.(method, code, seconds);
    if (okLogged) {
      const fields = fieldsOf(code, call.responseStream ? NO_IDS : idsOf(response), seconds);
      if (highRate) logger.debug(fields, 'rpc');
      else logger.info(fields, 'rpc');
    }
    return response;
  };
}
