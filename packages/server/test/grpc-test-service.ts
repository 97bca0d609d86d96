// Shared by the tests of crisp's own gRPC server (src/grpc-server): a server on a unix socket in a fresh
// directory, implementations filled in with UNIMPLEMENTED, and raw HTTP/2 frame helpers.
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ServerError, Status } from 'nice-grpc-common';
import { createGrpcServer, GrpcServer, GrpcServerOptions } from '../src/grpc-server/server';
import { encodeHeaderBlock, HpackDecoder } from '../src/grpc-server/hpack';
import { cri } from '@crisp/api';
import { CLIENT_PREFACE, Flag, frame, Frame, FrameReader, FrameType, settingsFrame, Setting } from '../src/grpc-server/frames';

interface DefinitionLike {
  fullName: string;
  methods: Record<string, { name: string; responseStream: boolean }>;
}

/** `partial` with every other method of `definition` throwing UNIMPLEMENTED. */
export function complete<Impl>(definition: DefinitionLike, partial: Partial<Impl>): Impl {
  const out: Record<string, unknown> = { ...partial };
  for (const [key, m] of Object.entries(definition.methods)) {
    if (out[key] !== undefined) continue;
    const message = `${definition.fullName}/${m.name} not implemented in this test`;
    out[key] = m.responseStream
      ? // eslint-disable-next-line require-yield
        async function* () {
          throw new ServerError(Status.UNIMPLEMENTED, message);
        }
      : async () => {
          throw new ServerError(Status.UNIMPLEMENTED, message);
        };
  }
  return out as Impl;
}

export interface TestServer {
  server: GrpcServer;
  /** The socket's path. */
  path: string;
  /** `unix://` + path, for grpc-js. */
  address: string;
  /** Connection errors the server reported. */
  errors: Error[];
  /** Force-shuts the server down and removes its directory. */
  close(): void;
}

export async function startServer(setup: (server: GrpcServer) => void, options: GrpcServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'crisp-grpc-'));
  const errors: Error[] = [];
  const server = createGrpcServer({ ...options, onConnectionError: (err) => errors.push(err) });
  setup(server);
  const socketPath = path.join(dir, 'grpc.sock');
  await server.listen(`unix://${socketPath}`);
  return {
    server,
    path: socketPath,
    address: `unix://${socketPath}`,
    errors,
    close: () => {
      server.forceShutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A hand-driven HTTP/2 client on a raw socket: writes frames, records the frames it receives. */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly decoder = new HpackDecoder();
  ended = false;
  private readonly reader = new FrameReader(1 << 24);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.reader.push(chunk, (f) => this.frames.push({ ...f, payload: Buffer.from(f.payload) }));
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  static async connect(socketPath: string): Promise<RawClient> {
    const socket = net.connect(socketPath);
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits for a frame matching `match` (from the start of the recording); rejects if the socket ends first. */
  async waitFor(match: (f: Frame) => boolean): Promise<Frame> {
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.ended) throw new Error('the connection closed before the frame came');
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Waits until the server closed the connection. */
  async closed(): Promise<void> {
    while (!this.ended) await new Promise<void>((r) => this.waiters.push(r));
  }

  write(buf: Buffer): void {
    this.socket.write(buf);
  }

  /** Sends PING `n` and waits for its ACK: every frame the server sent before it has arrived. */
  async barrier(n: number): Promise<void> {
    this.write(frame(FrameType.PING, 0, 0, pingPayload(n)));
    await this.waitFor(isPingAck(pingPayload(n)));
  }

  /** Decoded header blocks of `streamId`, in order (a block may span HEADERS + CONTINUATION). */
  headerBlocks(streamId: number): string[][] {
    const blocks: string[][] = [];
    let parts: Buffer[] = [];
    for (const f of this.frames) {
      if (f.streamId !== streamId || (f.type !== FrameType.HEADERS && f.type !== FrameType.CONTINUATION)) continue;
      parts.push(f.payload);
      if (f.flags & 0x4) {
        blocks.push(this.decoder.decode(Buffer.concat(parts)));
        parts = [];
      }
    }
    return blocks;
  }

  /** The DATA bytes received on `streamId`. */
  data(streamId: number): Buffer {
    return Buffer.concat(this.frames.filter((f) => f.type === FrameType.DATA && f.streamId === streamId).map((f) => f.payload));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The client preface and an empty SETTINGS frame. */
export function clientPreface(settings: ReadonlyArray<readonly [Setting, number]> = []): Buffer {
  return Buffer.concat([CLIENT_PREFACE, settingsFrame(settings)]);
}

/** Request header fields of a gRPC call to `path`. */
export function grpcRequestHeaders(methodPath: string, extra: Array<[string, string]> = []): Buffer {
  return encodeHeaderBlock([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', methodPath],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ...extra,
  ]);
}

/** A gRPC length-prefixed message. */
export function grpcMessage(body: Uint8Array, compressed = false): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed ? 1 : 0;
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** The value of `name` in a flat [name, value, ...] list. */
export function field(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

export const VERSION_PATH = '/runtime.v1.RuntimeService/Version';

/** A VersionRequest as one gRPC message. */
export const versionRequest = (version: string): Buffer => grpcMessage(cri.VersionRequest.encode({ version }).finish());

/** A whole unary Version call on stream `id`: request headers, then the message ending the stream. */
export function versionCall(id: number, version: string): Buffer {
  return Buffer.concat([
    frame(FrameType.HEADERS, Flag.END_HEADERS, id, grpcRequestHeaders(VERSION_PATH)),
    frame(FrameType.DATA, Flag.END_STREAM, id, versionRequest(version)),
  ]);
}

export const isGoaway = (f: { type: number }): boolean => f.type === FrameType.GOAWAY;
export const goawayCode = (f: { payload: Buffer }): number => f.payload.readUInt32BE(4);

/** An 8-byte PING payload carrying `n`. */
export function pingPayload(n: number): Buffer {
  const opaque = Buffer.alloc(8);
  opaque.writeUInt32BE(n, 4);
  return opaque;
}

export const isPingAck = (opaque: Buffer) => (f: { type: number; flags: number; payload: Buffer }): boolean =>
  f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(opaque);
