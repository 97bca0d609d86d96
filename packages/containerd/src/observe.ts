// An optional hook told of every unary containerd call: method, gRPC status and duration (crisp's
// metrics use it). Streams (event subscriptions, content reads) are left out: they last as long as
// their reader wants, so their duration says nothing about containerd.
import { ClientError, Status } from 'nice-grpc-common';
import type { ClientMiddleware } from 'nice-grpc-common';
import { ContainerdError } from './errors';

export interface ContainerdCallObserver {
  /** `method` is the full path, e.g. /containerd.services.tasks.v1.Tasks/Metrics. */
  finished(method: string, status: Status, seconds: number): void;
}

function statusOf(err: unknown): Status {
  if (err instanceof ContainerdError) return err.status;
  if (err instanceof ClientError) return err.code;
  return (err as Error)?.name === 'AbortError' ? Status.CANCELLED : Status.UNKNOWN;
}

export function observeMiddleware(observer: ContainerdCallObserver): ClientMiddleware {
  return async function* observe(call, options) {
    if (call.requestStream || call.responseStream) return yield* call.next(call.request, options);
    const start = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - start) / 1e9;
    try {
      const res = yield* call.next(call.request, options);
      observer.finished(call.method.path, Status.OK, seconds());
      return res;
    } catch (err) {
      observer.finished(call.method.path, statusOf(err), seconds());
      throw err;
    }
  };
}
