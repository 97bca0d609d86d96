// cAdvisor's metric names, help texts and extra label keys: what dashboards and recording rules
// query. Shared by the exporter's /metrics and crisp's CRI ListMetricDescriptors (kubelet's
// /metrics/cadvisor), so the two always publish the same names.

export interface MetricName {
  name: string;
  help: string;
  /** Label keys beyond the identifying ones, in order. */
  extra?: readonly string[];
}

const d = (name: string, help: string, extra?: string[]): MetricName => ({ name, help, ...(extra ? { extra } : {}) });

export const CONTAINER_METRICS = {
  cpuUser: d('container_cpu_user_seconds_total', 'Cumulative user cpu time consumed in seconds.'),
  cpuSystem: d('container_cpu_system_seconds_total', 'Cumulative system cpu time consumed in seconds.'),
  cpuUsage: d('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.'),
  cfsPeriods: d('container_cpu_cfs_periods_total', 'Number of elapsed enforcement period intervals.'),
  cfsThrottledPeriods: d('container_cpu_cfs_throttled_periods_total', 'Number of throttled period intervals.'),
  cfsThrottledSeconds: d('container_cpu_cfs_throttled_seconds_total', 'Total time duration the container has been throttled.'),
  memCache: d('container_memory_cache', 'Number of bytes of page cache memory.'),
  memRss: d('container_memory_rss', 'Size of RSS in bytes.'),
  memKernel: d('container_memory_kernel_usage', 'Size of kernel memory allocated in bytes.'),
  memMapped: d('container_memory_mapped_file', 'Size of memory mapped files in bytes.'),
  memSwap: d('container_memory_swap', 'Container swap usage in bytes.'),
  memFailcnt: d('container_memory_failcnt', 'Number of memory usage hits limits'),
  memUsage: d('container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed'),
  memMaxUsage: d('container_memory_max_usage_bytes', 'Maximum memory usage recorded in bytes'),
  memWorkingSet: d('container_memory_working_set_bytes', 'Current working set in bytes.'),
  memActiveFile: d('container_memory_total_active_file_bytes', 'Current total active file in bytes.'),
  memInactiveFile: d('container_memory_total_inactive_file_bytes', 'Current total inactive file in bytes.'),
  memFailures: d('container_memory_failures_total', 'Cumulative count of memory allocation failures.', ['failure_type', 'scope']),
  oomEvents: d('container_oom_events_total', 'Count of out of memory events observed for the container'),
  processes: d('container_processes', 'Number of processes running inside the container.'),
  threadsMax: d('container_threads_max', 'Maximum number of threads allowed inside the container, infinity if value is zero'),
  specMemoryLimit: d('container_spec_memory_limit_bytes', 'Memory limit for the container.'),
  fsUsage: d('container_fs_usage_bytes', 'Number of bytes that are consumed by the container on this filesystem.', ['device']),
} as const;

export const POD_METRICS = {
  rxBytes: d('container_network_receive_bytes_total', 'Cumulative count of bytes received', ['interface']),
  rxPackets: d('container_network_receive_packets_total', 'Cumulative count of packets received', ['interface']),
  rxDropped: d('container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving', ['interface']),
  rxErrors: d('container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', ['interface']),
  txBytes: d('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', ['interface']),
  txPackets: d('container_network_transmit_packets_total', 'Cumulative count of packets transmitted', ['interface']),
  txDropped: d('container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting', ['interface']),
  txErrors: d('container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', ['interface']),
} as const;

/** Published by the exporter only (kubelet computes these itself on the CRI path). */
export const LIFECYCLE_METRICS = {
  startTime: d('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.'),
  lastSeen: d('container_last_seen', 'Last time a container was seen by the exporter'),
} as const;
