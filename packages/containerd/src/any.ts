import type { Any } from '@crisp/api';

/** Type URL containerd (and its CRI plugin) use for the OCI runtime spec in Container.spec. */
export const OCI_SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

/**
 * The part of a ts-proto message codec used here; structural, because @crisp/api does not export
 * its MessageFns type (any generated `Foo` const, e.g. `taskEvents.TaskExit`, fits).
 */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

/**
 * The fully-qualified message name in a type URL: everything after the last '/'. containerd's Go
 * typeurl registers its own events without any prefix (`containerd.events.TaskExit`), while
 * protobuf's convention is `type.googleapis.com/<name>`; both reduce to the same name.
 */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

export class AnyTypeError extends Error {
  override readonly name = 'AnyTypeError';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`unexpected Any type ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
  }
}

/** JSON in an Any: how containerd stores the OCI spec and CRI plugins their extensions. */
export function packJson(typeUrl: string, value: unknown): Any {
  return { typeUrl, value: Buffer.from(JSON.stringify(value), 'utf8') };
}

/** Parses JSON from an Any; checks the type URL when one is given. */
export function unpackJson<T>(any: Any, expectedTypeUrl?: string): T {
  if (expectedTypeUrl !== undefined && any.typeUrl !== expectedTypeUrl) {
    throw new AnyTypeError(expectedTypeUrl, any.typeUrl);
  }
  return JSON.parse(Buffer.from(any.value).toString('utf8')) as T;
}

export function packSpec(spec: object): Any {
  return packJson(OCI_SPEC_TYPE_URL, spec);
}

export function unpackSpec<T = Record<string, unknown>>(any: Any): T {
  return unpackJson<T>(any, OCI_SPEC_TYPE_URL);
}

/** A protobuf message in an Any, e.g. runc options (`containerd.runc.v1.Options`). */
export function packMessage<T>(typeUrl: string, codec: MessageCodec<T>, message: T): Any {
  return { typeUrl, value: Buffer.from(codec.encode(message).finish()) };
}

/**
 * Decodes a protobuf Any, checking the message name (prefix-insensitive, see typeNameOf), e.g.
 * task metrics `io.containerd.cgroups.v1.Metrics`.
 */
export function unpackMessage<T>(any: Any, typeName: string, codec: MessageCodec<T>): T {
  if (typeNameOf(any.typeUrl) !== typeNameOf(typeName)) throw new AnyTypeError(typeName, any.typeUrl);
  return codec.decode(any.value);
}
