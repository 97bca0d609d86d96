// Dev mode helpers: a private containerd when none answers (also what the integration tests use).
export {
  containerdConfigToml,
  containerdPaths,
  containerdVersion,
  startManagedContainerd,
  tailFile,
  waitExit,
  MAX_UNIX_SOCKET_PATH,
  SOCKET_FALLBACK_ROOT,
} from './containerd';
export type {
  ManagedContainerd,
  ManagedContainerdCriConfig,
  ManagedContainerdOptions,
  ManagedContainerdPaths,
} from './containerd';
export {
  cleanupContainerdLeftovers,
  deleteRuncState,
  findShims,
  killAllTasks,
  killShims,
  mountsUnder,
  unmountUnder,
  DEFAULT_RUNC_ROOT,
} from './cleanup';
