// Types for parse-prometheus-text-format 1.1 (it ships none): the Prometheus text format as a list
// of metric families. Values stay strings (Prometheus' float syntax: "NaN", "+Inf").
declare module 'parse-prometheus-text-format' {
  export interface PromSample {
    value: string;
    labels?: Record<string, string>;
    timestamp_ms?: string;
  }
  export interface PromHistogramSample {
    buckets: Record<string, string>;
    count: string;
    sum: string;
    labels?: Record<string, string>;
  }
  export interface PromSummarySample {
    quantiles: Record<string, string>;
    count: string;
    sum: string;
    labels?: Record<string, string>;
  }
  export interface PromFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: (PromSample | PromHistogramSample | PromSummarySample)[];
  }
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
