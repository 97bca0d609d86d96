import { Metadata } from 'nice-grpc-common';
import type { CallOptions, ClientMiddleware } from 'nice-grpc-common';

/** containerd scopes every object by this header; without it most calls fail. */
export const NAMESPACE_HEADER = 'containerd-namespace';
/** Objects created under this header belong to the lease (protected from GC until it ends). */
export const LEASE_HEADER = 'containerd-lease';

/**
 * Adds `containerd-namespace` to every call. Copies the caller's metadata rather than mutating it,
 * so one Metadata (e.g. from leaseMetadata) can be reused across calls and clients. An explicit
 * namespace header set by the caller wins.
 */
export function namespaceMiddleware(namespace: string): ClientMiddleware {
  return async function* withNamespaceHeader(call, options) {
    const metadata = Metadata(options.metadata);
    if (!metadata.has(NAMESPACE_HEADER)) metadata.set(NAMESPACE_HEADER, namespace);
    return yield* call.next(call.request, { ...options, metadata });
  };
}

/** Metadata attaching calls to a lease: `{ metadata: leaseMetadata(id) }`. */
export function leaseMetadata(leaseId: string, base?: Metadata): Metadata {
  return Metadata(base).set(LEASE_HEADER, leaseId);
}

/** Call options for a call made under a lease, keeping any other options (signal, deadline...). */
export function withLease<T extends CallOptions>(leaseId: string, options?: T): T & { metadata: Metadata } {
  const base = options ?? ({} as T);
  return { ...base, metadata: leaseMetadata(leaseId, base.metadata) };
}
