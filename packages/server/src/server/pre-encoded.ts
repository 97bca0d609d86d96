// kubelet's most frequent calls (ListContainers every second, ContainerStatus per container) answer
// what rarely changes. Encoding 100 containers with the generated code costs more than everything else
// in the call, so answers are encoded once per change (see container/manager.ts) and sent as bytes.
import { cri } from '@crisp/api';

/** A whole response message, already encoded. */
export class PreEncodedMessage {
  constructor(readonly bytes: Uint8Array) {}

  encode(): Uint8Array {
    return this.bytes;
  }
}

/** Bytes of a varint (protobuf base-128, little-endian groups). */
function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

function writeVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

/**
 * `n` bytes over an ArrayBuffer of their own, whose valueOf() is that buffer. nice-grpc hands what an
 * encoder returns to Buffer.from(), which copies a Uint8Array but, as documented, takes an object's
 * valueOf() instead when it differs: an ArrayBuffer, wrapped without a copy. A 40 KB ListContainers
 * answer then costs one allocation and copy per call (grpc-js's framing) instead of two.
 */
function ownBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  Object.defineProperty(bytes, 'valueOf', { value: () => bytes.buffer });
  return bytes;
}

/** Tag of field 1, wire type 2 (length-delimited). */
const FIELD_1_BYTES = (1 << 3) | 2;

/** A response whose repeated field 1 is given as already-encoded messages; encoded once, on first use. */
export class PreEncodedList {
  private bytes: Uint8Array | undefined;

  constructor(readonly parts: readonly Uint8Array[]) {}

  encode(): Uint8Array {
    if (this.bytes) return this.bytes;
    let total = 0;
    for (const p of this.parts) total += 1 + varintLength(p.length) + p.length;
    const out = ownBytes(total);
    let at = 0;
    for (const p of this.parts) {
      out[at++] = FIELD_1_BYTES;
      at = writeVarint(out, at, p.length);
      out.set(p, at);
      at += p.length;
    }
    this.bytes = out;
    return out;
  }
}

/**
 * The last list answer: asked again with the same parts (the same encodings, in the same order) it is
 * the same answer, so its bytes are reused instead of concatenated again.
 */
export class PreEncodedListCache {
  private last: PreEncodedList | undefined;

  answer(parts: readonly Uint8Array[]): PreEncodedList {
    const last = this.last;
    if (last && last.parts.length === parts.length && last.parts.every((p, i) => p === parts[i])) return last;
    this.last = new PreEncodedList(parts);
    return this.last;
  }
}

type MessageType<T> = { fromPartial(v: unknown): T; encode(v: T): { finish(): Uint8Array } };

const isPreEncoded = (v: unknown): v is PreEncodedList | PreEncodedMessage => v instanceof PreEncodedList || v instanceof PreEncodedMessage;

/** A message type that passes pre-encoded values through untouched and sends their bytes. */
function preEncodable<T>(type: MessageType<T>): MessageType<T> {
  return {
    ...type,
    fromPartial: (v: unknown) => (isPreEncoded(v) ? (v as unknown as T) : type.fromPartial(v)),
    encode: (v: T) => (isPreEncoded(v) ? { finish: () => v.encode() } : type.encode(v)),
  };
}

/** The RuntimeService definition with ListContainers and ContainerStatus answered pre-encoded when the handler says so. */
export const RuntimeServiceDefinition: typeof cri.RuntimeServiceDefinition = {
  ...cri.RuntimeServiceDefinition,
  methods: {
    ...cri.RuntimeServiceDefinition.methods,
    listContainers: {
      ...cri.RuntimeServiceDefinition.methods.listContainers,
      responseType: preEncodable(cri.ListContainersResponse) as unknown as typeof cri.ListContainersResponse,
    },
    containerStatus: {
      ...cri.RuntimeServiceDefinition.methods.containerStatus,
      responseType: preEncodable(cri.ContainerStatusResponse) as unknown as typeof cri.ContainerStatusResponse,
    },
  },
};
