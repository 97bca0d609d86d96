// grpc.health.v1.Health: SERVING while crisp accepts calls, NOT_SERVING once it starts shutting down.
import { health } from '@crisp/api';
import { CallContext } from 'nice-grpc-common';
import { notFound } from '../errors';

const ServingStatus = health.HealthCheckResponse_ServingStatus;
type ServingStatus = health.HealthCheckResponse_ServingStatus;

export class HealthState {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly listeners = new Set<() => void>();

  constructor(services: string[]) {
    for (const s of ['', ...services]) this.statuses.set(s, ServingStatus.SERVING);
  }

  setAll(status: ServingStatus): void {
    for (const k of this.statuses.keys()) this.statuses.set(k, status);
    for (const l of this.listeners) l();
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  services(): Map<string, ServingStatus> {
    return new Map(this.statuses);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export function healthService(state: HealthState): health.HealthServiceImplementation {
  return {
    async check(req) {
      const status = state.get(req.service);
      if (status === undefined) throw notFound(`unknown service "${req.service}"`);
      return { status };
    },
    async list() {
      const statuses: Record<string, { status: ServingStatus }> = {};
      for (const [name, status] of state.services()) statuses[name] = { status };
      return { statuses };
    },
    async *watch(req, context: CallContext) {
      // Per the health protocol, an unknown service is watched as SERVICE_UNKNOWN rather than failed.
      let last: ServingStatus | undefined;
      let wake: (() => void) | undefined;
      const off = state.onChange(() => wake?.());
      const aborted = new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
      try {
        while (!context.signal.aborted) {
          const now = state.get(req.service) ?? ServingStatus.SERVICE_UNKNOWN;
          if (now !== last) {
            last = now;
            yield { status: now };
          }
          await Promise.race([new Promise<void>((resolve) => (wake = resolve)), aborted]);
        }
      } finally {
        off();
      }
    },
  };
}
