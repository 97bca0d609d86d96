// gRPC over HTTP/2, the parts that are plain data (the gRPC HTTP/2 protocol document): the 5-byte message
// prefix, grpc-timeout, grpc-message's percent-encoding, and metadata to and from header fields.
import { Metadata, Status } from 'nice-grpc-common';
import { encodeHeaderBlock } from './hpack';

export const MESSAGE_PREFIX_BYTES = 5;

/** The length-prefix of one uncompressed message. */
export function messagePrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES);
  prefix[0] = 0;
  prefix.writeUInt32BE(length, 1);
  return prefix;
}

export interface RequestMessage {
  compressed: boolean;
  body: Buffer;
}

/**
 * The one message of a unary or server-streaming request, from the DATA it came in. Returns a reason
 * (for an INTERNAL status) when the bytes are not exactly one message.
 */
export function singleMessage(chunks: readonly Buffer[], total: number): RequestMessage | string {
  if (total < MESSAGE_PREFIX_BYTES) return total === 0 ? 'the request has no message' : 'the request ends inside a message prefix';
  const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Buffer[], total);
  const flag = all[0]!;
  if (flag > 1) return `message flag ${flag} is not 0 or 1`;
  const length = all.readUInt32BE(1);
  if (MESSAGE_PREFIX_BYTES + length > total) return 'the request ends inside a message';
  if (MESSAGE_PREFIX_BYTES + length < total) return 'the request carries more than one message for a method that takes one';
  return { compressed: flag === 1, body: all.subarray(MESSAGE_PREFIX_BYTES) };
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-timeout (1 to 8 digits and a unit) in milliseconds; undefined when malformed. */
export function parseGrpcTimeout(value: string): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!;
}

/** grpc-message: UTF-8, with bytes outside printable ASCII and '%' percent-encoded. */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/** Header fields that belong to the transport, not to the call's metadata. */
const TRANSPORT_HEADERS = new Set(['content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'content-length', 'connection']);

/** The call's metadata from its request header fields ([name, value, ...]); `-bin` values are base64. */
export function metadataFromHeaders(headers: readonly string[]): Metadata {
  const md = Metadata();
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.startsWith(':') || TRANSPORT_HEADERS.has(name)) continue;
    const value = headers[i + 1]!;
    if (name.endsWith('-bin')) {
      // A -bin field may carry several values, comma-separated.
      for (const part of value.split(',')) md.append(name, Buffer.from(part.trim(), 'base64'));
    } else {
      md.append(name, value);
    }
  }
  return md;
}

/** Header fields for metadata a handler set on its response header or trailer. */
export function metadataToFields(md: Metadata | undefined): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (!md) return fields;
  for (const [name, values] of md) {
    for (const v of values) fields.push([name, typeof v === 'string' ? v : Buffer.from(v).toString('base64')]);
  }
  return fields;
}

const RESPONSE_HEADER_FIELDS: Array<[string, string]> = [
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-accept-encoding', 'identity,deflate,gzip'],
];

/** The response headers of every call with no custom header metadata, encoded once. */
export const RESPONSE_HEADERS = encodeHeaderBlock(RESPONSE_HEADER_FIELDS);
/** The trailers of every successful call with no custom trailer metadata, encoded once. */
export const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);

export function responseHeaders(header: Metadata | undefined): Uint8Array {
  const custom = metadataToFields(header);
  return custom.length === 0 ? RESPONSE_HEADERS : encodeHeaderBlock([...RESPONSE_HEADER_FIELDS, ...custom]);
}

/** Trailers carrying a status; `trailersOnly` when no headers went before (an answer that is only a status). */
export function statusTrailers(code: Status, details: string, trailer: Metadata | undefined, trailersOnly: boolean): Uint8Array {
  const custom = metadataToFields(trailer);
  if (code === Status.OK && !details && custom.length === 0 && !trailersOnly) return OK_TRAILERS;
  const fields: Array<[string, string]> = trailersOnly ? [...RESPONSE_HEADER_FIELDS] : [];
  fields.push(['grpc-status', String(code)]);
  if (details) fields.push(['grpc-message', encodeGrpcMessage(details)]);
  fields.push(...custom);
  return encodeHeaderBlock(fields);
}

/** A bare HTTP answer for requests that are not gRPC (wrong method or content type). */
export function httpStatusOnly(status: number): Uint8Array {
  return encodeHeaderBlock([[':status', String(status)]]);
}
