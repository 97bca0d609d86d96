import { cri } from '@crisp/api';
import { createChannel, createClient } from 'nice-grpc';
import type { Channel } from 'nice-grpc';
import { ClientError, Status } from 'nice-grpc-common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { internal, notFound } from '../src/errors';
import { createGrpcServer, GrpcServer } from '../src/grpc-server/server';
import { createLogger } from '../src/log';
import { rpcMiddleware } from '../src/server/rpc-middleware';
import { withUnimplemented } from '../src/server/unimplemented';

interface LogLine {
  level: string;
  msg: string;
  rpc: string;
  code: string;
  durationMs: number;
  containerId?: string;
  podSandboxId?: string;
  name?: string;
  error?: string;
  err?: { message: string };
}

/** A crisp server with the middleware at `level`, the log lines it writes and what the observer saw. */
async function start(level: string): Promise<{ client: cri.RuntimeServiceClient; lines: LogLine[]; observed: string[]; stop(): Promise<void> }> {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  const observed: string[] = [];
  const observer = {
    started: (m: string) => observed.push(`started ${m}`),
    finished: (m: string, code: Status, seconds: number) => observed.push(`finished ${m} ${Status[code]} ${seconds >= 0 && seconds < 60}`),
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'crisp-rpc-mw-'));
  const server: GrpcServer = createGrpcServer().use(rpcMiddleware(createLogger(level, sink), observer));
  server.add(
    cri.RuntimeServiceDefinition,
    withUnimplemented<cri.RuntimeServiceImplementation>(cri.RuntimeServiceDefinition, {
      version: async () => ({ version: '0.1.0', runtimeName: 'crisp', runtimeVersion: 't', runtimeApiVersion: 'v1' }),
      containerStatus: async (req) => {
        if (req.containerId === 'broken') throw new Error('disk on fire');
        throw notFound(`container "${req.containerId}" not found`);
      },
      createContainer: async (req) => {
        if (req.config?.metadata?.name === 'bad') throw internal('shim died');
        return { containerId: 'c-new' };
      },
      startContainer: async (req) => {
        throw notFound(`container "${req.containerId}" not found`);
      },
      // Like crisp's event streams: one event, then it returns quietly once its client has gone.
      async *getContainerEvents(_req, context) {
        yield { containerId: 'c1' } as cri.ContainerEventResponse;
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve));
      },
    }),
  );
  const socket = `unix://${path.join(dir, 's.sock')}`;
  await server.listen(socket);
  const channel: Channel = createChannel(socket);
  return {
    client: createClient(cri.RuntimeServiceDefinition, channel),
    lines,
    observed,
    async stop() {
      channel.close();
      await server.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function failure(p: Promise<unknown>): Promise<ClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw new Error(`expected a ClientError, got ${String(err)}`);
  return err;
}

/** pino writes asynchronously to its destination stream: wait until `n` lines are in. */
async function linesIn(lines: LogLine[], n: number): Promise<LogLine[]> {
  for (let i = 0; i < 200 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return lines;
}

describe('rpc middleware', () => {
  it('logs each call with its ids, code and duration, and tells the observer', async () => {
    const s = await start('debug');
    try {
      await s.client.version({ version: 'v1' });
      await s.client.createContainer({ podSandboxId: 'p1', config: { metadata: { name: 'web', attempt: 0 } } });
      const lines = await linesIn(s.lines, 2);
      expect(lines[0]).toMatchObject({ level: 'debug', msg: 'rpc', rpc: 'Version', code: 'OK' });
      expect(lines[1]).toMatchObject({ level: 'info', msg: 'rpc', rpc: 'CreateContainer', code: 'OK', podSandboxId: 'p1', name: 'web', containerId: 'c-new' });
      expect(typeof lines[1]!.durationMs).toBe('number');
      expect(s.observed).toEqual(['started Version', 'finished Version OK true', 'started CreateContainer', 'finished CreateContainer OK true']);
    } finally {
      await s.stop();
    }
  });

  it('counts and logs a stream that ends quietly after its client went away as CANCELLED, not OK', async () => {
    const s = await start('debug');
    try {
      const ac = new AbortController();
      const events = s.client.getContainerEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
      expect((await events.next()).value).toMatchObject({ containerId: 'c1' });
      ac.abort();
      await events.next().catch(() => undefined);
      const [line] = await linesIn(s.lines, 1);
      expect(line).toMatchObject({ msg: 'rpc', rpc: 'GetContainerEvents', code: 'CANCELLED' });
      expect(s.observed).toEqual(['started GetContainerEvents', 'finished GetContainerEvents CANCELLED true']);
    } finally {
      await s.stop();
    }
  });

  it('maps errors to their status and logs them at the level they deserve', async () => {
    const s = await start('debug');
    try {
      expect((await failure(s.client.containerStatus({ containerId: 'c9', verbose: false }))).code).toBe(Status.NOT_FOUND);
      const thrown = await failure(s.client.containerStatus({ containerId: 'broken', verbose: false }));
      expect(thrown.code).toBe(Status.INTERNAL);
      expect(thrown.details).toContain('disk on fire');
      expect((await failure(s.client.startContainer({ containerId: 'c8' }))).code).toBe(Status.NOT_FOUND);
      expect((await failure(s.client.createContainer({ podSandboxId: 'p2', config: { metadata: { name: 'bad', attempt: 0 } } }))).code).toBe(Status.INTERNAL);
      const lines = await linesIn(s.lines, 4);
      expect(lines[0]).toMatchObject({ level: 'debug', msg: 'rpc failed', rpc: 'ContainerStatus', code: 'NOT_FOUND', containerId: 'c9', error: 'container "c9" not found' });
      expect(lines[1]).toMatchObject({ level: 'error', msg: 'rpc failed', rpc: 'ContainerStatus', code: 'INTERNAL', containerId: 'broken' });
      expect(lines[2]).toMatchObject({ level: 'info', msg: 'rpc failed', rpc: 'StartContainer', code: 'NOT_FOUND', containerId: 'c8' });
      expect(lines[3]).toMatchObject({ level: 'error', msg: 'rpc failed', rpc: 'CreateContainer', code: 'INTERNAL', podSandboxId: 'p2', name: 'bad' });
      expect(s.observed.filter((o) => o.startsWith('finished'))).toEqual([
        'finished ContainerStatus NOT_FOUND true',
        'finished ContainerStatus INTERNAL true',
        'finished StartContainer NOT_FOUND true',
        'finished CreateContainer INTERNAL true',
      ]);
    } finally {
      await s.stop();
    }
  });

  it('still names the ids of a failed call when the successful ones are not logged', async () => {
    const s = await start('warn');
    try {
      await s.client.version({ version: 'v1' });
      await s.client.createContainer({ podSandboxId: 'p1', config: { metadata: { name: 'web', attempt: 0 } } });
      await failure(s.client.containerStatus({ containerId: 'broken', verbose: false }));
      const lines = await linesIn(s.lines, 1);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'error', msg: 'rpc failed', rpc: 'ContainerStatus', code: 'INTERNAL', containerId: 'broken' });
      expect(lines[0]!.err?.message).toBe('disk on fire');
      expect(s.observed).toHaveLength(6);
    } finally {
      await s.stop();
    }
  });
});
