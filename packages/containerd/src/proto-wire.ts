// The few bytes of protobuf wire format that hand-assembled messages need (see content-definition.ts).

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** Tag and length of a length-delimited field (bytes, string, embedded message). */
export function lengthDelimitedPrefix(field: number, length: number): Buffer {
  return Buffer.from([(field << 3) | 2, ...varint(length)]);
}
