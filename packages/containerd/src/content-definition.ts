// Content.Write carries the blobs of every pull. The generated encoder copies a WRITE's data twice
// (into its writer, then out of it); this one encodes the small fields as generated and appends the
// data with a single copy. Same bytes on the wire up to field order, which protobuf does not care about.
import { content } from '@crisp/api';

const EMPTY = Buffer.alloc(0);
/** Field 6 (data), wire type 2 (length-delimited). */
const DATA_TAG = (6 << 3) | 2;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

export function encodeWriteContentRequest(message: content.WriteContentRequest): { finish(): Uint8Array } {
  const data = message.data;
  if (!data || data.length === 0) return content.WriteContentRequest.encode(message);
  const head = content.WriteContentRequest.encode({ ...message, data: EMPTY }).finish();
  return { finish: () => Buffer.concat([head, Buffer.from([DATA_TAG, ...varint(data.length)]), data]) };
}

/** The Content service definition with the single-copy WRITE encoder. */
export const ContentDefinition: typeof content.ContentDefinition = {
  ...content.ContentDefinition,
  methods: {
    ...content.ContentDefinition.methods,
    write: {
      ...content.ContentDefinition.methods.write,
      requestType: { ...content.WriteContentRequest, encode: encodeWriteContentRequest as unknown as typeof content.WriteContentRequest.encode },
    },
  },
};
