import { cri } from '@crisp/api';
import { Status } from 'nice-grpc-common';
import { CrispError } from '../src/errors';
import { withUnimplemented } from '../src/server/unimplemented';
import { idsOf } from '../src/server/rpc-middleware';

describe('withUnimplemented', () => {
  const impl = withUnimplemented<cri.RuntimeServiceImplementation>(cri.RuntimeServiceDefinition, {
    version: async () => ({ version: 'x', runtimeName: 'y', runtimeVersion: 'z', runtimeApiVersion: 'v1' }),
  });

  it('keeps implemented methods and fills every other method', async () => {
    for (const key of Object.keys(cri.RuntimeServiceDefinition.methods)) {
      expect(typeof (impl as unknown as Record<string, unknown>)[key]).toBe('function');
    }
    await expect(impl.version(cri.VersionRequest.fromPartial({}), {} as never)).resolves.toMatchObject({ runtimeName: 'y' });
  });

  it('answers UNIMPLEMENTED naming the RPC, for unary and streaming methods', async () => {
    const unary = impl.runPodSandbox(cri.RunPodSandboxRequest.fromPartial({}), {} as never);
    await expect(unary).rejects.toBeInstanceOf(CrispError);
    await expect(unary).rejects.toMatchObject({
      code: Status.UNIMPLEMENTED,
      message: 'runtime.v1.RuntimeService/RunPodSandbox is not implemented by crisp yet',
    });
    const stream = impl.getContainerEvents(cri.GetEventsRequest.fromPartial({}), {} as never) as AsyncIterable<unknown>;
    await expect((async () => {
      for await (const _ of stream) void _;
    })()).rejects.toMatchObject({ code: Status.UNIMPLEMENTED });
  });
});

describe('idsOf', () => {
  it('finds the ids kubelet passes', () => {
    expect(idsOf({ podSandboxId: 'p1', containerId: 'c1' })).toEqual({ podSandboxId: 'p1', containerId: 'c1' });
    expect(idsOf({ image: { image: 'busybox' } })).toEqual({ image: 'busybox' });
    expect(idsOf({ config: { metadata: { name: 'web', namespace: 'default' } } })).toEqual({ name: 'default/web' });
    expect(idsOf(undefined)).toEqual({});
  });
});
