// @crisp/registry: crisp pulls images itself. Image references, containerd-style hosts.toml
// registry configuration, and an OCI distribution client (auth, retries, mirrors, verification).
export * from './errors';
export * from './digest';
export * from './reference';
export * from './platform';
export * from './manifest';
export * from './hosts';
export * from './auth';
export * from './verify';
export * from './client';
export type { Logger } from './logger';
export { silentLogger } from './logger';
