// crisp's own metrics (prefix crisp_): CRI calls, containerd calls, image pulls, CNI, the pods and
// containers crisp runs, event stream reconnects, and Node's process metrics. The counters and
// histograms are fed by hooks (RpcObserver, ContainerdCallObserver, Puller's onPulled, CniObserver);
// the gauges are read from the managers when scraped, so they are never stale.
import { cri } from '@crisp/api';
import type { ContainerdCallObserver } from '@crisp/containerd';
import { Status } from 'nice-grpc-common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { statusName } from '../errors';
import type { CniObserver } from '../network/cni';
import type { RpcObserver } from '../server/rpc-middleware';

/** Buckets (s) for calls that take from a fraction of a millisecond (stats) to seconds (pulls, creates). */
const CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const PULL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** What the scrape-time gauges read. */
export interface CrispStateSource {
  /** Pod sandbox states (SANDBOX_READY / SANDBOX_NOTREADY) by id. */
  sandboxStates(): Promise<Iterable<cri.PodSandboxState>>;
  containerStates(): Iterable<cri.ContainerState>;
  /** How many times the containerd event subscription became live (1 + reconnects). */
  eventSubscriptions(): number;
}

const SANDBOX_STATE: Record<number, string> = { [cri.PodSandboxState.SANDBOX_READY]: 'ready', [cri.PodSandboxState.SANDBOX_NOTREADY]: 'notready' };
const CONTAINER_STATE: Record<number, string> = {
  [cri.ContainerState.CONTAINER_CREATED]: 'created',
  [cri.ContainerState.CONTAINER_RUNNING]: 'running',
  [cri.ContainerState.CONTAINER_EXITED]: 'exited',
  [cri.ContainerState.CONTAINER_UNKNOWN]: 'unknown',
};

function countBy<T>(items: Iterable<T>, name: (x: T) => string, all: Record<number, string>): Map<string, number> {
  const out = new Map(Object.values(all).map((s) => [s, 0]));
  for (const x of items) {
    const k = name(x);
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

export class CrispMetrics {
  readonly registry = new Registry();
  private source: CrispStateSource | undefined;

  private readonly rpcTotal = new Counter({ name: 'crisp_cri_requests_total', help: 'CRI calls answered, by method and gRPC code.', labelNames: ['method', 'code'], registers: [this.registry] });
  private readonly rpcSeconds = new Histogram({ name: 'crisp_cri_request_duration_seconds', help: 'CRI call latency in seconds, by method.', labelNames: ['method'], buckets: CALL_BUCKETS, registers: [this.registry] });
  private readonly rpcInFlight = new Gauge({ name: 'crisp_cri_requests_in_flight', help: 'CRI calls being answered, by method.', labelNames: ['method'], registers: [this.registry] });
  private readonly containerdSeconds = new Histogram({
    name: 'crisp_containerd_request_duration_seconds',
    help: 'Latency of crisp\'s unary calls to containerd in seconds, by service, method and gRPC code.',
    labelNames: ['service', 'method', 'code'],
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });
  private readonly pullBytes = new Counter({ name: 'crisp_image_pull_bytes_total', help: 'Bytes fetched from registries by image pulls.', registers: [this.registry] });
  private readonly pullSeconds = new Histogram({ name: 'crisp_image_pull_duration_seconds', help: 'Image pull duration in seconds, by result (success or failure).', labelNames: ['result'], buckets: PULL_BUCKETS, registers: [this.registry] });
  private readonly cniSeconds = new Histogram({ name: 'crisp_cni_operation_duration_seconds', help: 'CNI ADD and DEL duration in seconds, by operation.', labelNames: ['operation'], buckets: CALL_BUCKETS, registers: [this.registry] });
  private readonly cniErrors = new Counter({ name: 'crisp_cni_operation_errors_total', help: 'CNI ADD and DEL failures, by operation.', labelNames: ['operation'], registers: [this.registry] });

  constructor() {
    const self = this;
    new Gauge({
      name: 'crisp_pod_sandboxes',
      help: 'Pod sandboxes crisp knows, by state (ready, notready).',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        if (!self.source) return;
        for (const [state, n] of countBy(await self.source.sandboxStates(), (s) => SANDBOX_STATE[s] ?? 'notready', SANDBOX_STATE)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'crisp_containers',
      help: 'Containers crisp knows, by state (created, running, exited, unknown).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        this.reset();
        if (!self.source) return;
        for (const [state, n] of countBy(self.source.containerStates(), (s) => CONTAINER_STATE[s] ?? 'unknown', CONTAINER_STATE)) this.set({ state }, n);
      },
    });
    new Counter({
      name: 'crisp_event_stream_reconnects_total',
      help: 'Times the containerd event subscription was lost and made live again.',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(Math.max(0, (self.source?.eventSubscriptions() ?? 0) - 1));
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where the state gauges read from (set once crisp's managers exist). */
  watch(source: CrispStateSource): void {
    this.source = source;
  }

  readonly rpc: RpcObserver = {
    started: (method) => this.rpcInFlight.inc({ method }),
    finished: (method, code, seconds) => {
      this.rpcInFlight.dec({ method });
      this.rpcTotal.inc({ method, code: statusName(code) });
      this.rpcSeconds.observe({ method }, seconds);
    },
  };

  readonly containerd: ContainerdCallObserver = {
    finished: (path, code, seconds) => {
      // /containerd.services.tasks.v1.Tasks/Metrics → service Tasks, method Metrics
      const slash = path.lastIndexOf('/');
      const service = path.slice(path.lastIndexOf('.', slash) + 1, slash);
      this.containerdSeconds.observe({ service, method: path.slice(slash + 1), code: statusName(code as Status) }, seconds);
    },
  };

  readonly onPulled = (bytes: number, seconds: number, ok: boolean): void => {
    this.pullBytes.inc(bytes);
    this.pullSeconds.observe({ result: ok ? 'success' : 'failure' }, seconds);
  };

  readonly cni: CniObserver = {
    finished: (operation, seconds, ok) => {
      this.cniSeconds.observe({ operation }, seconds);
      if (!ok) this.cniErrors.inc({ operation });
    },
  };
}
