// Content digests (`<algorithm>:<hex>`) as the OCI image spec and go-digest define them.
import { createHash, type Hash } from 'node:crypto';

/** Registered algorithms and the length of their hex encoding. */
const ALGORITHMS = new Map<string, number>([
  ['sha256', 64],
  ['sha384', 96],
  ['sha512', 128],
]);

const ALGORITHM_GRAMMAR = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/;
const LOWER_HEX = /^[a-f0-9]+$/;

/** Why `digest` is not a usable digest, or undefined when it is. */
export function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(':');
  if (colon <= 0) return `invalid digest format ${JSON.stringify(digest)}: expected <algorithm>:<hex>`;
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  if (!ALGORITHM_GRAMMAR.test(algorithm)) return `invalid digest algorithm ${JSON.stringify(algorithm)}`;
  const length = ALGORITHMS.get(algorithm);
  if (length === undefined) return `unsupported digest algorithm ${JSON.stringify(algorithm)}`;
  if (!LOWER_HEX.test(encoded)) return `invalid ${algorithm} digest: the encoded part must be lowercase hexadecimal`;
  if (encoded.length !== length) {
    return `invalid ${algorithm} digest length: expected ${length} hex characters, got ${encoded.length}`;
  }
  return undefined;
}

export function isDigest(value: string): boolean {
  return digestProblem(value) === undefined;
}

export function digestAlgorithm(digest: string): string {
  return digest.slice(0, digest.indexOf(':'));
}

/** A hash object for the algorithm of `digest` (which must be valid). */
export function createDigestHash(digest: string): Hash {
  return createHash(digestAlgorithm(digest));
}

export function computeDigest(data: Buffer | Uint8Array, algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}
