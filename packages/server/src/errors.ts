// The one place where errors become gRPC statuses. Handlers throw CrispError (or let typed errors from
// the containerd client, the registry client or aborts propagate); the RPC middleware calls toServerError.
import { ServerError, Status } from 'nice-grpc-common';

export { Status };

/** An error with the gRPC status crisp answers with. */
export class CrispError extends Error {
  constructor(
    readonly code: Status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CrispError';
  }
}

export const invalidArgument = (msg: string): CrispError => new CrispError(Status.INVALID_ARGUMENT, msg);
export const notFound = (msg: string): CrispError => new CrispError(Status.NOT_FOUND, msg);
export const alreadyExists = (msg: string): CrispError => new CrispError(Status.ALREADY_EXISTS, msg);
export const failedPrecondition = (msg: string): CrispError => new CrispError(Status.FAILED_PRECONDITION, msg);
export const unimplemented = (msg: string): CrispError => new CrispError(Status.UNIMPLEMENTED, msg);
export const unavailable = (msg: string, cause?: unknown): CrispError => new CrispError(Status.UNAVAILABLE, msg, { cause });
export const deadlineExceeded = (msg: string): CrispError => new CrispError(Status.DEADLINE_EXCEEDED, msg);
export const internal = (msg: string, cause?: unknown): CrispError => new CrispError(Status.INTERNAL, msg, { cause });

/** containerd client error codes (ContainerdError.code from @crisp/containerd) → gRPC status. */
const CONTAINERD_CODES: Record<string, Status> = {
  'not-found': Status.NOT_FOUND,
  'already-exists': Status.ALREADY_EXISTS,
  'failed-precondition': Status.FAILED_PRECONDITION,
  'invalid-argument': Status.INVALID_ARGUMENT,
  unavailable: Status.UNAVAILABLE,
  'deadline-exceeded': Status.DEADLINE_EXCEEDED,
  cancelled: Status.CANCELLED,
  aborted: Status.ABORTED,
  unimplemented: Status.UNIMPLEMENTED,
  'permission-denied': Status.PERMISSION_DENIED,
  'resource-exhausted': Status.RESOURCE_EXHAUSTED,
  internal: Status.INTERNAL,
  unknown: Status.UNKNOWN,
};

/** Error classes from other packages, recognised by name so this module needs no import of each. */
const BY_NAME: Record<string, Status> = {
  AbortError: Status.CANCELLED,
  ConfigError: Status.INVALID_ARGUMENT,
  InvalidReferenceError: Status.INVALID_ARGUMENT,
  UnauthorizedError: Status.UNAUTHENTICATED,
  ForbiddenError: Status.PERMISSION_DENIED,
  NotFoundError: Status.NOT_FOUND,
  RegistryUnavailableError: Status.UNAVAILABLE,
  DigestMismatchError: Status.DATA_LOSS,
  SizeMismatchError: Status.DATA_LOSS,
  TooLargeError: Status.RESOURCE_EXHAUSTED,
  PlatformNotFoundError: Status.NOT_FOUND,
  TimeoutError: Status.DEADLINE_EXCEEDED,
};

export function statusOf(err: unknown): Status {
  if (err instanceof ServerError) return err.code;
  if (err instanceof CrispError) return err.code;
  if (err instanceof Error) {
    if (err.name === 'ContainerdError') {
      const code = (err as Error & { code?: unknown }).code;
      if (typeof code === 'string' && code in CONTAINERD_CODES) return CONTAINERD_CODES[code]!;
    }
    const byName = BY_NAME[err.name];
    if (byName !== undefined) return byName;
  }
  return Status.INTERNAL;
}

/** Converts anything thrown by a handler into the ServerError nice-grpc sends to the client. */
export function toServerError(err: unknown): ServerError {
  if (err instanceof ServerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ServerError(statusOf(err), message);
}

export function statusName(code: Status): string {
  return Status[code] ?? String(code);
}
