// The pod network: CNI configs, the CNI executor, results, and pinned network namespaces.
export * from './cni-config';
export * from './cni-result';
export * from './netns';
export {
  CniError,
  CniNetwork,
  CniPluginError,
  DEFAULT_CNI_TIMEOUT_MS,
  ensureLoopback,
  execPlugin,
  pluginStdin,
} from './cni';
export type {
  CniBandwidth,
  CniCacheEntry,
  CniCapabilityArgs,
  CniCommand,
  CniFailure,
  CniNetworkOptions,
  CniPortMapping,
  CniRuntimeConf,
  ExecPluginRequest,
  LoopbackOptions,
} from './cni';
