// Content.Write carries the blobs of every pull. The generated encoder copies a WRITE's data twice
// (into its writer, then out of it); this one encodes the small fields as generated and appends the
// data with a single copy. Same bytes on the wire up to field order, which protobuf does not care about.
import { content } from '@crisp/api';
import { lengthDelimitedPrefix } from './proto-wire';

const EMPTY = Buffer.alloc(0);
/** WriteContentRequest.data */
const DATA_FIELD = 6;

export function encodeWriteContentRequest(message: content.WriteContentRequest): { finish(): Uint8Array } {
  const data = message.data;
  if (!data || data.length === 0) return content.WriteContentRequest.encode(message);
  const head = content.WriteContentRequest.encode({ ...message, data: EMPTY }).finish();
  return { finish: () => Buffer.concat([head, lengthDelimitedPrefix(DATA_FIELD, data.length), data]) };
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
