// Container metrics from containerd: decoding of Tasks.Metrics, pod network counters, writable layer
// usage (shared with crisp's CRI stats), and the Prometheus exporter with cAdvisor names and labels.
export * from './decode';
export * from './network';
export * from './layer-usage';
export * from './pool';
export * from './task-filters';
export * from './fs-device';
export * from './cadvisor-names';
export * from './target';
export * from './scrape';
export * from './families';
export * from './registry';
export * from './http';
export * from './exporter';
