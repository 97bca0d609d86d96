// Typed errors of the registry client. Every error crisp raises here extends RegistryError, so the
// CRI layer can map them to gRPC codes with `instanceof` (InvalidReferenceError → INVALID_ARGUMENT,
// NotFoundError → NOT_FOUND, UnauthorizedError/ForbiddenError → PERMISSION_DENIED or
// UNAUTHENTICATED, RegistryUnavailableError → UNAVAILABLE, AbortError → CANCELLED, …).

export interface RegistryErrorOptions {
  cause?: unknown;
  /** HTTP status of the response that caused the error, when there was one. */
  status?: number;
  /** API root of the registry endpoint that answered, e.g. `https://registry-1.docker.io/v2`. */
  endpoint?: string;
}

export class RegistryError extends Error {
  readonly status?: number;
  readonly endpoint?: string;

  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.status !== undefined) this.status = options.status;
    if (options.endpoint !== undefined) this.endpoint = options.endpoint;
  }
}

/** A malformed image reference or digest (gRPC INVALID_ARGUMENT). */
export class InvalidReferenceError extends RegistryError {
  constructor(
    readonly reference: string,
    readonly reason: string,
  ) {
    super(`invalid image reference ${JSON.stringify(reference)}: ${reason}`);
  }
}

/** A hosts.toml that cannot be used (unparseable, wrong types, unknown capability, unreadable CA). */
export class HostsConfigError extends RegistryError {
  constructor(
    readonly file: string,
    reason: string,
    options: RegistryErrorOptions = {},
  ) {
    super(`registry host configuration ${file}: ${reason}`, options);
  }
}

/** 401 even after authenticating (or no credentials to answer the challenge with). */
export class UnauthorizedError extends RegistryError {
  /** The registry's own words, from the `errors[].message` of its JSON body, when it gave any. */
  readonly registryMessage?: string;

  constructor(message: string, options: RegistryErrorOptions & { registryMessage?: string } = {}) {
    super(message, { status: 401, ...options });
    if (options.registryMessage) this.registryMessage = options.registryMessage;
  }
}

export class ForbiddenError extends RegistryError {
  readonly registryMessage?: string;

  constructor(message: string, options: RegistryErrorOptions & { registryMessage?: string } = {}) {
    super(message, { status: 403, ...options });
    if (options.registryMessage) this.registryMessage = options.registryMessage;
  }
}

/** Manifest or blob unknown (404), or nothing that matches. `reference` is the image asked for. */
export class NotFoundError extends RegistryError {
  readonly reference?: string;

  constructor(message: string, options: RegistryErrorOptions & { reference?: string } = {}) {
    super(message, { status: 404, ...options });
    if (options.reference !== undefined) this.reference = options.reference;
  }
}

/** Connection refused/reset/timed out, TLS failure, or 5xx/429 after the retries. */
export class RegistryUnavailableError extends RegistryError {}

export class DigestMismatchError extends RegistryError {
  constructor(
    readonly expected: string,
    readonly actual: string,
    what = 'content',
  ) {
    super(`${what} digest mismatch: expected ${expected}, got ${actual}`);
  }
}

export class SizeMismatchError extends RegistryError {
  /** `actual` is the number of bytes seen; `atLeast` means the transfer was cut short because it overflowed. */
  constructor(
    readonly expected: number,
    readonly actual: number,
    what = 'content',
    readonly atLeast = false,
  ) {
    super(`${what} size mismatch: expected ${expected} bytes, got ${atLeast ? 'at least ' : ''}${actual}`);
  }
}

/** A manifest (or other document read into memory) larger than the configured limit. */
export class TooLargeError extends RegistryError {
  constructor(
    readonly limit: number,
    readonly size: number | undefined,
    what = 'content',
  ) {
    super(`${what} is too large: ${size === undefined ? 'more than' : size} bytes exceeds the limit of ${limit} bytes`);
  }
}

export class NoMatchingPlatformError extends RegistryError {
  constructor(
    readonly wanted: string,
    readonly available: string[],
    where = 'the manifest list',
  ) {
    super(
      `no matching manifest for ${wanted} in ${where}` +
        ` (available: ${available.length > 0 ? available.join(', ') : 'none'})`,
    );
  }
}

export class UnsupportedMediaTypeError extends RegistryError {
  constructor(
    readonly mediaType: string,
    what = 'manifest',
  ) {
    super(`unsupported ${what} media type ${JSON.stringify(mediaType)}`);
  }
}

/** A manifest or index whose JSON is not what the OCI image spec describes. */
export class InvalidManifestError extends RegistryError {}

/** The caller's AbortSignal fired. `code` matches Node's own abort errors. */
export class AbortError extends RegistryError {
  readonly code = 'ABORT_ERR';

  constructor(message = 'the operation was aborted', options: RegistryErrorOptions = {}) {
    super(message, options);
  }
}

export function abortErrorFrom(signal: AbortSignal | undefined): AbortError {
  const reason: unknown = signal?.reason;
  if (reason instanceof AbortError) return reason;
  const detail = reason instanceof Error ? `: ${reason.message}` : '';
  return new AbortError(`the operation was aborted${detail}`, reason === undefined ? {} : { cause: reason });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortErrorFrom(signal);
}

export function isAbortError(err: unknown): boolean {
  return (
    err instanceof AbortError ||
    (err instanceof Error && (err.name === 'AbortError' || (err as NodeJS.ErrnoException).code === 'ABORT_ERR'))
  );
}
