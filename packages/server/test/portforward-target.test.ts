// resolvePortForwardTarget: what the PortForward RPC checks before it hands out a URL, against a
// sandbox store filled by hand (no containerd).
import { cri } from '@crisp/api';
import type { CrispContext } from '../src/context';
import { CrispError, Status } from '../src/errors';
import type { SandboxRecord } from '../src/sandbox/record';
import { SandboxStore } from '../src/sandbox/store';
import { resolvePortForwardTarget } from '../src/streaming/portforward';

function record(id: string, netnsPath?: string): SandboxRecord {
  return {
    id,
    config: cri.PodSandboxConfig.fromPartial({ metadata: { name: id, namespace: 'ns', uid: id } }),
    configHash: 'h',
    runtimeHandler: 'runc',
    runtime: 'io.containerd.runc.v2',
    ...(netnsPath ? { netnsPath } : {}),
    ips: [],
    createdAt: '0',
    image: 'pause',
  };
}

describe('resolvePortForwardTarget', () => {
  const store = new SandboxStore();
  store.add(record('aaa111', '/var/run/netns/cni-1'));
  store.add(record('bbb222'));
  store.add(record('ccc333', '/var/run/netns/cni-3'));
  const ready = new Set(['aaa111', 'bbb222']);
  const ctx = {
    sandboxes: {
      store,
      ready: async () => undefined,
      state: async (id: string) => ({ state: ready.has(id) ? cri.PodSandboxState.SANDBOX_READY : cri.PodSandboxState.SANDBOX_NOTREADY, pid: 1 }),
    },
  } as unknown as CrispContext;
  const resolve = (podSandboxId: string, port: number[] = []) => resolvePortForwardTarget(ctx, { podSandboxId, port });

  async function status(p: Promise<unknown>): Promise<[Status, string]> {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CrispError);
    return [(err as CrispError).code, (err as Error).message];
  }

  it('resolves a ready pod (by id prefix too) to its network namespace and ports', async () => {
    expect(await resolve('aaa111', [80, 443])).toEqual({ sandboxId: 'aaa111', netnsPath: '/var/run/netns/cni-1', ports: [80, 443] });
    expect(await resolve('aaa')).toEqual({ sandboxId: 'aaa111', netnsPath: '/var/run/netns/cni-1', ports: [] });
  });

  it('has no namespace for a host-network pod: crisp dials itself', async () => {
    expect(await resolve('bbb222', [8080])).toEqual({ sandboxId: 'bbb222', ports: [8080] });
  });

  it('answers NOT_FOUND for an unknown sandbox, FAILED_PRECONDITION for one not ready', async () => {
    expect(await status(resolve('zzz'))).toEqual([Status.NOT_FOUND, 'pod sandbox "zzz" not found']);
    expect(await status(resolve('ccc333'))).toEqual([Status.FAILED_PRECONDITION, 'PortForward: pod sandbox ccc333 is not ready']);
  });

  it('answers INVALID_ARGUMENT for a missing id or a port outside 1..65535', async () => {
    expect(await status(resolve(''))).toEqual([Status.INVALID_ARGUMENT, 'PortForward: pod_sandbox_id is required']);
    for (const bad of [0, -1, 65536]) {
      expect(await status(resolve('aaa111', [80, bad]))).toEqual([Status.INVALID_ARGUMENT, `PortForward: port ${bad} is out of range (1-65535)`]);
    }
  });
});
