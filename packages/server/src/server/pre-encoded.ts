// ListContainers is kubelet's most frequent call and its answer grows with the node. Encoding 100
// containers with the generated code costs more than everything else in the call, so each container's
// message is encoded once per change (see container/manager.ts) and the answer is their concatenation.
import { cri } from '@crisp/api';
import { lengthDelimitedPrefix } from '@crisp/containerd';

/** A response whose repeated field 1 is given as already-encoded messages. */
export class PreEncodedList {
  constructor(readonly parts: readonly Uint8Array[]) {}

  encode(): Buffer {
    const chunks: Uint8Array[] = [];
    for (const p of this.parts) chunks.push(lengthDelimitedPrefix(1, p.length), p);
    return Buffer.concat(chunks);
  }
}

type MessageType<T> = { fromPartial(v: unknown): T; encode(v: T): { finish(): Uint8Array } };

/** A message type that passes PreEncodedList values through untouched and encodes them by concatenation. */
function preEncodable<T>(type: MessageType<T>): MessageType<T> {
  return {
    ...type,
    fromPartial: (v: unknown) => (v instanceof PreEncodedList ? (v as unknown as T) : type.fromPartial(v)),
    encode: (v: T) => (v instanceof PreEncodedList ? { finish: () => v.encode() } : type.encode(v)),
  };
}

/** The RuntimeService definition with ListContainers answered from pre-encoded containers. */
export const RuntimeServiceDefinition: typeof cri.RuntimeServiceDefinition = {
  ...cri.RuntimeServiceDefinition,
  methods: {
    ...cri.RuntimeServiceDefinition.methods,
    listContainers: {
      ...cri.RuntimeServiceDefinition.methods.listContainers,
      responseType: preEncodable(cri.ListContainersResponse) as unknown as typeof cri.ListContainersResponse,
    },
  },
};
