// OCI test images built offline, and a small client that pushes them to a registry.
export * from './build';
export * from './fixtures';
export * from './push';
export { buildTar, FIXED_MTIME } from './tar';
export type { TarEntry } from './tar';
