// Container and pod stats over CRI (ContainerStats, PodSandboxStats and their list and stream forms)
// and the CRI metrics kubelet serves as /metrics/cadvisor, from containerd's Tasks.Metrics.
export * from './decode';
export * from './cpu-rate';
export * from './network';
export * from './layer-usage';
export * from './filters';
export * from './collector';
export * from './cri';
export * from './metrics';
export * from './service';
