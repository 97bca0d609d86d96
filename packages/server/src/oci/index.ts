// The OCI runtime spec builders (pure functions; host.ts reads the node facts they take as inputs).
export * from './types';
export * from './defaults';
export * from './cgroups';
export * from './resources';
export * from './oom';
export * from './capabilities';
export * from './user';
export * from './seccomp';
export * from './sysctl';
export * from './security';
export * from './sandbox-spec';
export * from './devices';
export * from './signal';
export * from './container-spec';
export * from './host';
