import { ClientError, Status } from 'nice-grpc-common';
import type { ClientMiddleware } from 'nice-grpc-common';
import { isAbortError } from './errors';

/**
 * Per-call options crisp adds to nice-grpc's CallOptions. nice-grpc core has no deadline (it is
 * a separate middleware package we do not depend on), so this module provides one.
 */
export interface DeadlineCallOptions {
  /** Absolute deadline: a Date or milliseconds since the epoch (grpc-js' convention). */
  deadline?: Date | number;
  /** Relative deadline in milliseconds; with `deadline` too, the earlier one wins. */
  timeoutMs?: number;
}

/** Methods that block by design (Tasks.Wait waits for the process to exit): no default timeout. */
const LONG_POLL_METHODS = new Set(['/containerd.services.tasks.v1.Tasks/Wait']);

function remainingMs(options: DeadlineCallOptions): number | undefined {
  let ms: number | undefined;
  if (options.deadline !== undefined) {
    const at = options.deadline instanceof Date ? options.deadline.getTime() : options.deadline;
    ms = at - Date.now();
  }
  if (options.timeoutMs !== undefined) ms = ms === undefined ? options.timeoutMs : Math.min(ms, options.timeoutMs);
  return ms;
}

/**
 * Turns `deadline`/`timeoutMs` into an abort of the call plus a DEADLINE_EXCEEDED ClientError,
 * as a grpc-js deadline would. The caller's own signal still cancels (and stays an AbortError).
 * `defaultTimeoutMs` applies to unary calls without a deadline; streams are long-lived by nature.
 * Pass `deadline: Infinity` to opt a unary call out of the default.
 */
export function deadlineMiddleware(defaultTimeoutMs: number | undefined): ClientMiddleware<DeadlineCallOptions> {
  return async function* deadline(call, options) {
    const { deadline: _d, timeoutMs: _t, ...rest } = options;
    let ms = remainingMs(options);
    if (
      ms === undefined &&
      defaultTimeoutMs !== undefined &&
      !call.requestStream &&
      !call.responseStream &&
      !LONG_POLL_METHODS.has(call.method.path)
    ) {
      ms = defaultTimeoutMs;
    }
    if (ms === undefined || !Number.isFinite(ms)) return yield* call.next(call.request, rest);
    if (ms <= 0) throw new ClientError(call.method.path, Status.DEADLINE_EXCEEDED, 'deadline exceeded before the call started');

    const outer = rest.signal;
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    if (outer?.aborted) controller.abort();
    else outer?.addEventListener('abort', onAbort);
    let expired = false;
    const timer = setTimeout(
      () => {
        expired = true;
        controller.abort();
      },
      Math.max(0, ms),
    );
    try {
      return yield* call.next(call.request, { ...rest, signal: controller.signal });
    } catch (err) {
      // The caller's abort wins over an expiry that raced it: cancellation stays an AbortError.
      if (expired && !outer?.aborted && isAbortError(err)) {
        throw new ClientError(call.method.path, Status.DEADLINE_EXCEEDED, `deadline exceeded after ${Math.round(ms)}ms`);
      }
      throw err;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  };
}
