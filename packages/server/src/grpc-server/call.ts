// One gRPC call on one HTTP/2 stream: the request message, the deadline, cancellation, the handler (with
// the server's middleware), the answer, and the status. Methods take one request message (unary and
// server-streaming: all the CRI and health need).
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { CallContext, Metadata, MethodDescriptor, ServerError, Status } from 'nice-grpc-common';
import type { ServerStream } from './connection';
import {
  httpStatusOnly,
  messagePrefix,
  metadataFromHeaders,
  MESSAGE_PREFIX_BYTES,
  OK_TRAILERS,
  parseGrpcTimeout,
  responseHeaders,
  RESPONSE_HEADERS,
  singleMessage,
  statusTrailers,
} from './wire';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

/** A server-streaming call waits for its client once this much of its answer is unsent. */
const STREAM_HIGH_WATER = 256 * 1024;
/**
 * DATA payloads under SMALL_CHUNK are joined MERGE_RUN at a time: a client sending a message in 1-byte
 * frames would otherwise make the server hold one Buffer object (~100 bytes of heap) per byte received.
 */
const SMALL_CHUNK = 4096;
const MERGE_RUN = 64;
/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface MethodEntry {
  descriptor: MethodDescriptor;
  decode(bytes: Uint8Array): unknown;
  encode(value: unknown): Uint8Array;
  /** The implementation, wrapped in the server's middleware. */
  handler(request: unknown, context: CallContext): AsyncGenerator<unknown, unknown, undefined>;
}

export interface CallLimits {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
}

/** What the server knows of a call before it starts: which method, on which stream, from whom. */
export interface CallStart {
  stream: ServerStream;
  methods: ReadonlyMap<string, MethodEntry>;
  limits: CallLimits;
  peer: string;
}

/** nice-grpc's CallContext; metadata objects are made only when a handler asks for them. */
class Context implements CallContext {
  private md: Metadata | undefined;
  private hdr: Metadata | undefined;
  private trl: Metadata | undefined;

  constructor(
    private readonly call: GrpcCall,
    private readonly requestHeaders: readonly string[],
    readonly peer: string,
    readonly signal: AbortSignal,
  ) {}

  get metadata(): Metadata {
    return (this.md ??= metadataFromHeaders(this.requestHeaders));
  }

  get header(): Metadata {
    return (this.hdr ??= Metadata());
  }

  get trailer(): Metadata {
    return (this.trl ??= Metadata());
  }

  get headerIfSet(): Metadata | undefined {
    return this.hdr;
  }

  get trailerIfSet(): Metadata | undefined {
    return this.trl;
  }

  sendHeader(): void {
    this.call.sendHeaders();
  }
}

/** application/grpc, optionally with +proto (or another subtype) or parameters; not grpc-web and the like. */
function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined || !value.startsWith('application/grpc')) return false;
  const next = value.charCodeAt(16);
  return Number.isNaN(next) || next === 0x2b /* + */ || next === 0x3b /* ; */;
}

/** Reads the request fields a call needs; returns undefined after answering a request that isn't gRPC. */
function routeOf(stream: ServerStream): { path: string; timeout?: string; encoding?: string } | undefined {
  const h = stream.headers;
  let method: string | undefined;
  let path: string | undefined;
  let contentType: string | undefined;
  let timeout: string | undefined;
  let encoding: string | undefined;
  for (let i = 0; i < h.length; i += 2) {
    switch (h[i]) {
      case ':method':
        method = h[i + 1];
        break;
      case ':path':
        path = h[i + 1];
        break;
      case 'content-type':
        contentType = h[i + 1];
        break;
      case 'grpc-timeout':
        timeout = h[i + 1];
        break;
      case 'grpc-encoding':
        encoding = h[i + 1];
        break;
    }
  }
  if (method !== 'POST') {
    stream.respond(httpStatusOnly(405), true);
    return undefined;
  }
  if (!isGrpcContentType(contentType) || path === undefined) {
    stream.respond(httpStatusOnly(415), true);
    return undefined;
  }
  return { path, ...(timeout !== undefined ? { timeout } : {}), ...(encoding !== undefined ? { encoding } : {}) };
}

export class GrpcCall {
  private readonly controller = new AbortController();
  private readonly context: Context;
  private chunks: Buffer[] = [];
  private received = 0;
  /** Small chunks at the end of `chunks`, not yet joined. */
  private smallRun = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;
  private headersSent = false;
  private drained: (() => void) | undefined;

  private constructor(
    private readonly stream: ServerStream,
    private readonly method: MethodEntry,
    private readonly limits: CallLimits,
    private readonly encoding: string | undefined,
    peer: string,
  ) {
    this.context = new Context(this, stream.headers, peer, this.controller.signal);
    stream.events = {
      onData: (chunk) => this.onData(chunk),
      onEnd: () => void this.run(),
      onAbort: () => this.abort(),
      onDrain: () => this.drained?.(),
    };
  }

  /** Takes a new stream: answers at once what can't be a call, otherwise starts one. */
  static start({ stream, methods, limits, peer }: CallStart): void {
    const route = routeOf(stream);
    if (!route) return;
    const method = methods.get(route.path);
    if (!method) {
      stream.respond(statusTrailers(Status.UNIMPLEMENTED, `unknown method ${route.path}`, undefined, true), true);
      return;
    }
    const call = new GrpcCall(stream, method, limits, route.encoding, peer);
    if (route.timeout !== undefined) {
      const ms = parseGrpcTimeout(route.timeout);
      if (ms === undefined) return call.finish(Status.INTERNAL, `malformed grpc-timeout "${route.timeout}"`);
      // Node fires a timer over 2^31-1 ms (~24.8 days) after 1 ms instead: a deadline that far is no deadline.
      if (ms <= MAX_TIMER_MS) call.timer = setTimeout(() => call.expire(), ms);
    }
  }

  sendHeaders(): void {
    if (this.headersSent || this.finished) return;
    this.headersSent = true;
    const header = this.context.headerIfSet;
    this.stream.respond(header ? responseHeaders(header) : RESPONSE_HEADERS);
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.received += chunk.length;
    if (this.received > this.limits.maxReceiveMessageBytes + MESSAGE_PREFIX_BYTES) {
      this.finish(Status.RESOURCE_EXHAUSTED, `received message larger than max (${this.received - MESSAGE_PREFIX_BYTES} vs. ${this.limits.maxReceiveMessageBytes})`);
      return;
    }
    this.chunks.push(chunk);
    if (chunk.length >= SMALL_CHUNK) {
      this.smallRun = 0;
    } else if (++this.smallRun === MERGE_RUN) {
      this.chunks.push(Buffer.concat(this.chunks.splice(-MERGE_RUN)));
      this.smallRun = 0;
    }
  }

  private expire(): void {
    this.timer = undefined;
    if (this.finished) return;
    this.finish(Status.DEADLINE_EXCEEDED, 'deadline exceeded');
    this.controller.abort();
  }

  private abort(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.controller.abort();
    this.drained?.();
  }

  private async request(): Promise<unknown> {
    const message = singleMessage(this.chunks, this.received);
    this.chunks = [];
    if (typeof message === 'string') throw new ServerError(Status.INTERNAL, message);
    let body: Uint8Array = message.body;
    if (message.compressed) {
      const max = { maxOutputLength: this.limits.maxReceiveMessageBytes };
      if (this.encoding === 'gzip') body = await gunzip(body, max).catch(decompressFailed);
      else if (this.encoding === 'deflate') body = await inflate(body, max).catch(decompressFailed);
      else if (this.encoding === undefined || this.encoding === 'identity') throw new ServerError(Status.INTERNAL, 'compressed message without a grpc-encoding');
      else throw new ServerError(Status.UNIMPLEMENTED, `grpc-encoding "${this.encoding}" is not supported (identity, deflate, gzip are)`);
    }
    try {
      return this.method.decode(body);
    } catch (err) {
      throw new ServerError(Status.INTERNAL, `request message does not decode: ${(err as Error).message}`);
    }
  }

  private async run(): Promise<void> {
    if (this.finished) return;
    try {
      const request = await this.request();
      if (this.finished) return;
      const iterator = this.method.handler(request, this.context);
      if (this.method.descriptor.responseStream) await this.streamAnswers(iterator);
      else await this.unaryAnswer(iterator);
    } catch (err) {
      if (this.finished) return;
      if (err instanceof ServerError) this.finish(err.code, err.details);
      else this.finish(Status.UNKNOWN, `unknown server error: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  /** As nice-grpc: a unary handler returns its answer; yielding or returning nothing is a bug. */
  private async unaryAnswer(iterator: AsyncGenerator<unknown, unknown, undefined>): Promise<void> {
    let result = await iterator.next();
    for (;;) {
      if (!result.done) {
        result = await iterator.throw(new Error('a middleware yielded a message, but a unary method returns one'));
        continue;
      }
      if (result.value == null) {
        result = await iterator.throw(new Error('a middleware returned nothing, but a unary method returns a message'));
        continue;
      }
      break;
    }
    if (this.finished) return;
    this.sendMessage(result.value);
    this.finish(Status.OK, '');
  }

  private async streamAnswers(iterator: AsyncGenerator<unknown, unknown, undefined>): Promise<void> {
    let done = false;
    try {
      for (;;) {
        const result = await iterator.next();
        if (result.done) {
          done = true;
          break;
        }
        if (this.finished) break;
        this.sendMessage(result.value);
        if (this.stream.queuedBytes >= STREAM_HIGH_WATER) {
          await this.drain();
          if (this.finished) break;
        }
      }
    } catch (err) {
      // The handler threw (it is done) or a message could not be sent (it is not).
      if (!done) await iterator.return(undefined).catch(() => undefined);
      throw err;
    }
    // Unwinds the handler's finally blocks when the client went away mid-stream.
    if (!done) await iterator.return(undefined);
    this.finish(Status.OK, '');
  }

  /** Waits until the client has taken most of what was sent, or the call is over. */
  private drain(): Promise<void> {
    return new Promise((resolve) => {
      this.drained = () => {
        this.drained = undefined;
        resolve();
      };
    });
  }

  private sendMessage(value: unknown): void {
    let bytes: Uint8Array;
    try {
      bytes = this.method.encode(value);
    } catch (err) {
      throw new ServerError(Status.INTERNAL, `response message does not encode: ${(err as Error).message}`);
    }
    if (bytes.length > this.limits.maxSendMessageBytes) {
      throw new ServerError(Status.RESOURCE_EXHAUSTED, `sent message larger than max (${bytes.length} vs. ${this.limits.maxSendMessageBytes})`);
    }
    this.sendHeaders();
    this.stream.write(messagePrefix(bytes.length));
    this.stream.write(bytes);
  }

  /** Ends the call with a status (trailers, or a trailers-only answer when nothing was sent yet). */
  private finish(code: Status, details: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    const trailer = this.context.trailerIfSet;
    if (this.headersSent) {
      this.stream.end(code === Status.OK && !trailer ? OK_TRAILERS : statusTrailers(code, details, trailer, false));
    } else {
      this.stream.respond(statusTrailers(code, details, trailer, true), true);
    }
    this.drained?.();
  }
}

function decompressFailed(err: Error): never {
  if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
    throw new ServerError(Status.RESOURCE_EXHAUSTED, 'decompressed message larger than the maximum');
  }
  throw new ServerError(Status.INTERNAL, `compressed message does not decompress: ${err.message}`);
}
