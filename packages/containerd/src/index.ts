// Typed client for containerd's v1 gRPC services (containerd 1.6), used by crisp's CRI server.
export * from './client';
export * from './errors';
export * from './deadline';
export * from './metadata';
export * from './any';
export * from './timestamp';
export * from './event-decode';
export * from './event-stream';
export * from './content-write';
export * from './content-read';
export * from './ownership';
export { sleep, Backoff } from './backoff';
export { lengthDelimitedPrefix } from './proto-wire';
export * from './observe';
export * from './lease-pool';
