// @crisp/e2e: what integration tests, benchmarks and manual runs use to start containerd,
// crisp and a registry, and to build and push the OCI test images.
export * from './cleanup';
export * from './tmp';
export * from './proc';
export * from './containerd';
export * from './crisp';
export * from './registry';
export * from './images';
export * from './cri';
export * from './cni';
export * from './suite';
export * from './streaming/upgrade';
export * from './streaming/remotecommand-client';
export * from './streaming/fake-apiserver';
export * from './streaming/portforward-client';
