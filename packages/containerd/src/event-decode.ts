import {
  containerEvents,
  contentEvents,
  events,
  imageEvents,
  namespaceEvents,
  snapshotEvents,
  taskEvents,
} from '@crisp/api';
import type { Any, Timestamp } from '@crisp/api';
import { typeNameOf } from './any';
import type { MessageCodec } from './any';

/** containerd's event envelope (@crisp/api does not re-export types/event.proto). */
export type Envelope = ReturnType<events.EventsClient['subscribe']> extends AsyncIterable<infer E> ? E : never;
export const EnvelopeCodec: MessageCodec<Envelope> = events.EventsDefinition.methods.subscribe.responseType;

function entry<T>(typeName: string, codec: MessageCodec<T>): { typeName: string; codec: MessageCodec<T> } {
  return { typeName, codec };
}

/**
 * Topic → payload type. Type names are what containerd 1.6 puts in the Any's type_url (its Go
 * typeurl registry uses the bare proto name, no `type.googleapis.com/` prefix). Image events live
 * in proto package containerd.services.images.v1, not containerd.events.
 */
export const EVENT_TYPES = {
  '/tasks/create': entry('containerd.events.TaskCreate', taskEvents.TaskCreate),
  '/tasks/start': entry('containerd.events.TaskStart', taskEvents.TaskStart),
  '/tasks/exit': entry('containerd.events.TaskExit', taskEvents.TaskExit),
  '/tasks/oom': entry('containerd.events.TaskOOM', taskEvents.TaskOOM),
  '/tasks/delete': entry('containerd.events.TaskDelete', taskEvents.TaskDelete),
  '/tasks/paused': entry('containerd.events.TaskPaused', taskEvents.TaskPaused),
  '/tasks/resumed': entry('containerd.events.TaskResumed', taskEvents.TaskResumed),
  '/tasks/exec-added': entry('containerd.events.TaskExecAdded', taskEvents.TaskExecAdded),
  '/tasks/exec-started': entry('containerd.events.TaskExecStarted', taskEvents.TaskExecStarted),
  '/tasks/checkpointed': entry('containerd.events.TaskCheckpointed', taskEvents.TaskCheckpointed),
  '/containers/create': entry('containerd.events.ContainerCreate', containerEvents.ContainerCreate),
  '/containers/update': entry('containerd.events.ContainerUpdate', containerEvents.ContainerUpdate),
  '/containers/delete': entry('containerd.events.ContainerDelete', containerEvents.ContainerDelete),
  '/images/create': entry('containerd.services.images.v1.ImageCreate', imageEvents.ImageCreate),
  '/images/update': entry('containerd.services.images.v1.ImageUpdate', imageEvents.ImageUpdate),
  '/images/delete': entry('containerd.services.images.v1.ImageDelete', imageEvents.ImageDelete),
  '/content/create': entry('containerd.events.ContentCreate', contentEvents.ContentCreate),
  '/content/delete': entry('containerd.events.ContentDelete', contentEvents.ContentDelete),
  '/snapshot/prepare': entry('containerd.events.SnapshotPrepare', snapshotEvents.SnapshotPrepare),
  '/snapshot/commit': entry('containerd.events.SnapshotCommit', snapshotEvents.SnapshotCommit),
  '/snapshot/remove': entry('containerd.events.SnapshotRemove', snapshotEvents.SnapshotRemove),
  '/namespaces/create': entry('containerd.events.NamespaceCreate', namespaceEvents.NamespaceCreate),
  '/namespaces/update': entry('containerd.events.NamespaceUpdate', namespaceEvents.NamespaceUpdate),
  '/namespaces/delete': entry('containerd.events.NamespaceDelete', namespaceEvents.NamespaceDelete),
} as const;

export type KnownTopic = keyof typeof EVENT_TYPES;
export type EventPayload<K extends KnownTopic> =
  (typeof EVENT_TYPES)[K]['codec'] extends MessageCodec<infer T> ? T : never;

/** Where and when an event happened (from the envelope). */
export interface EventOrigin {
  namespace: string;
  timestamp: Timestamp | undefined;
}

export type KnownEvent = { [K in KnownTopic]: EventOrigin & { topic: K; event: EventPayload<K> } }[KnownTopic];

/**
 * A topic not in EVENT_TYPES, or a payload whose type did not match its topic. Check
 * `event === undefined` (or isKnownEvent) before switching on `topic` so TypeScript narrows
 * the payload type.
 */
export interface UnknownEvent extends EventOrigin {
  topic: string;
  event: undefined;
  raw: Any | undefined;
}

export type DecodedEvent = KnownEvent | UnknownEvent;

export function isKnownTopic(topic: string): topic is KnownTopic {
  return Object.prototype.hasOwnProperty.call(EVENT_TYPES, topic);
}

export function isKnownEvent(e: DecodedEvent): e is KnownEvent {
  return e.event !== undefined;
}

/**
 * Decodes an envelope's payload by its topic, checking the Any's type name matches what that
 * topic carries, so the result's `event` is always the type its `topic` promises.
 */
export function decodeEvent(envelope: Envelope): DecodedEvent {
  const origin: EventOrigin = { namespace: envelope.namespace, timestamp: envelope.timestamp };
  const { topic, event: raw } = envelope;
  if (raw !== undefined && isKnownTopic(topic)) {
    const { typeName, codec } = EVENT_TYPES[topic];
    if (typeNameOf(raw.typeUrl) === typeName) {
      return { ...origin, topic, event: codec.decode(raw.value) } as KnownEvent;
    }
  }
  return { ...origin, topic, event: undefined, raw };
}
