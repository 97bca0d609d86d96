import { cri } from '@crisp/api';
import { PreEncodedList, RuntimeServiceDefinition } from '../src/server/pre-encoded';

const container = (i: number): cri.Container =>
  cri.Container.fromPartial({
    id: `${i}`.repeat(64).slice(0, 64),
    podSandboxId: 'p'.repeat(64),
    metadata: { name: `c${i}`, attempt: i },
    image: { image: 'busybox' },
    state: cri.ContainerState.CONTAINER_RUNNING,
    createdAt: 1796318696709799750n + BigInt(i),
    labels: { app: `a${i}` },
    annotations: { ['x'.repeat(200)]: 'y'.repeat(300) },
  });

describe('pre-encoded ListContainers', () => {
  it('encodes to what the generated encoder gives', () => {
    const items = Array.from({ length: 5 }, (_, i) => container(i));
    const pre = new PreEncodedList(items.map((c) => cri.Container.encode(c).finish()));
    const type = RuntimeServiceDefinition.methods.listContainers.responseType;
    const bytes = type.encode(type.fromPartial(pre as unknown as cri.ListContainersResponse)).finish();
    expect(cri.ListContainersResponse.decode(bytes)).toEqual({ containers: items });
    expect(Buffer.from(bytes).equals(Buffer.from(cri.ListContainersResponse.encode({ containers: items }).finish()))).toBe(true);
  });

  it('still encodes ordinary responses', () => {
    const type = RuntimeServiceDefinition.methods.listContainers.responseType;
    const plain = { containers: [container(1)] };
    expect(cri.ListContainersResponse.decode(type.encode(type.fromPartial(plain)).finish())).toEqual(plain);
    expect(cri.ListContainersResponse.decode(new PreEncodedList([]).encode())).toEqual({ containers: [] });
  });
});
