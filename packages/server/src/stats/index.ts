// Container and pod stats over CRI (ContainerStats, PodSandboxStats and their list and stream forms)
// and the CRI metrics kubelet serves as /metrics/cadvisor, from containerd's Tasks.Metrics. The
// decoding, network and writable layer readers live in @crisp/metrics-exporter (shared with it).
export * from './cpu-rate';
export * from './filters';
export * from './collector';
export * from './cri';
export * from './metrics';
export * from './service';
