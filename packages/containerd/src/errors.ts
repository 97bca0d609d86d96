import { ClientError, Status } from 'nice-grpc-common';
import type { ClientMiddleware } from 'nice-grpc-common';

/** What went wrong, named after containerd's errdefs so callers branch on meaning, not numbers. */
export type ContainerdErrorCode =
  | 'not-found'
  | 'already-exists'
  | 'failed-precondition'
  | 'invalid-argument'
  | 'unavailable'
  | 'deadline-exceeded'
  | 'cancelled'
  | 'aborted'
  | 'unimplemented'
  | 'permission-denied'
  | 'resource-exhausted'
  | 'internal'
  | 'unknown';

const CODE_BY_STATUS: Record<Status, ContainerdErrorCode> = {
  [Status.OK]: 'unknown', // a ClientError never carries OK; kept total for the type
  [Status.CANCELLED]: 'cancelled',
  [Status.UNKNOWN]: 'unknown',
  [Status.INVALID_ARGUMENT]: 'invalid-argument',
  [Status.DEADLINE_EXCEEDED]: 'deadline-exceeded',
  [Status.NOT_FOUND]: 'not-found',
  [Status.ALREADY_EXISTS]: 'already-exists',
  [Status.PERMISSION_DENIED]: 'permission-denied',
  [Status.RESOURCE_EXHAUSTED]: 'resource-exhausted',
  [Status.FAILED_PRECONDITION]: 'failed-precondition',
  [Status.ABORTED]: 'aborted',
  // containerd answers OUT_OF_RANGE for a Content.Write at the wrong offset: the state, not the
  // request, is what is off.
  [Status.OUT_OF_RANGE]: 'failed-precondition',
  [Status.UNIMPLEMENTED]: 'unimplemented',
  [Status.INTERNAL]: 'internal',
  [Status.UNAVAILABLE]: 'unavailable',
  [Status.DATA_LOSS]: 'internal',
  [Status.UNAUTHENTICATED]: 'permission-denied',
};

/** A failed containerd call. `details` is containerd's own message, `method` the gRPC path. */
export class ContainerdError extends Error {
  override readonly name = 'ContainerdError';
  readonly code: ContainerdErrorCode;
  readonly status: Status;
  readonly details: string;
  readonly method: string;

  constructor(method: string, status: Status, details: string, options?: { cause?: unknown }) {
    super(`${method}: ${Status[status] ?? status}: ${details}`, options);
    this.status = status;
    this.code = CODE_BY_STATUS[status] ?? 'unknown';
    this.details = details;
    this.method = method;
  }

  static fromClientError(err: ClientError): ContainerdError {
    return new ContainerdError(err.path, err.code, err.details, { cause: err });
  }
}

export function codeForStatus(status: Status): ContainerdErrorCode {
  return CODE_BY_STATUS[status] ?? 'unknown';
}

export function isContainerdError(err: unknown, code?: ContainerdErrorCode): err is ContainerdError {
  return err instanceof ContainerdError && (code === undefined || err.code === code);
}

export function isNotFound(err: unknown): err is ContainerdError {
  return isContainerdError(err, 'not-found');
}

export function isAlreadyExists(err: unknown): err is ContainerdError {
  return isContainerdError(err, 'already-exists');
}

export function isUnavailable(err: unknown): err is ContainerdError {
  return isContainerdError(err, 'unavailable');
}

/**
 * True for a caller's cancellation (nice-grpc throws abort-controller-x's AbortError, which is
 * recognised by name: that is also how abort-controller-x's own isAbortError works, and it keeps
 * us off an undeclared transitive dependency). DOMException 'AbortError' matches too.
 */
export function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

/** Converts every ClientError (unary and streaming) into a ContainerdError; AbortError passes. */
export const errorMiddleware: ClientMiddleware = async function* errorMiddleware(call, options) {
  try {
    return yield* call.next(call.request, options);
  } catch (err) {
    if (err instanceof ClientError) throw ContainerdError.fromClientError(err);
    throw err;
  }
};
