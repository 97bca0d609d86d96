// crisp's own metrics and the embedded /metrics endpoint.
export * from './crisp-metrics';
export * from './endpoint';
