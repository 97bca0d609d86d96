// @crisp/containerd against a real, private containerd 1.6 (needs root and /usr/bin/containerd).
// The containerd helper below is local on purpose: the shared e2e harness is built separately.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ContainerdClient,
  OWNER_LABEL,
  isAbortError,
  isNotFound,
  isOwnedByCrisp,
  ownedLabels,
  packSpec,
  readContent,
  subscribeEvents,
  unpackSpec,
  writeContent,
} from '@crisp/containerd';
import type { ContainerdError, EventStreamItem } from '@crisp/containerd';

jest.setTimeout(30_000);

/** A containerd of our own: its own root, state and sockets under one temp dir; CRI plugin off. */
class PrivateContainerd {
  readonly dir = mkdtempSync(join(tmpdir(), 'crisp-cd-it-'));
  readonly socket = join(this.dir, 'containerd.sock');
  private readonly config = join(this.dir, 'config.toml');
  private readonly log = join(this.dir, 'containerd.log');
  private proc: ChildProcess | undefined;

  constructor() {
    writeFileSync(
      this.config,
      [
        'version = 2',
        `root = "${this.dir}/root"`,
        `state = "${this.dir}/state"`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${this.socket}"`,
        '[ttrpc]',
        `  address = "${this.socket}.ttrpc"`,
        '[debug]',
        `  address = "${this.dir}/debug.sock"`,
        '',
      ].join('\n'),
    );
  }

  async start(): Promise<void> {
    const fd = openSync(this.log, 'a');
    try {
      this.proc = spawn('/usr/bin/containerd', ['--config', this.config], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const probe = new ContainerdClient({ address: this.socket, namespace: 'default' });
    try {
      const until = Date.now() + 10_000;
      for (;;) {
        try {
          await probe.ping({ timeoutMs: 500 });
          return;
        } catch (err) {
          if (Date.now() > until || this.proc.exitCode !== null) {
            throw new Error(`containerd did not come up: ${String(err)}\n${this.logTail()}`);
          }
          await sleep(50);
        }
      }
    } finally {
      probe.close();
    }
  }

  /** SIGKILL, as a crash would: no socket cleanup, streams cut. */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  logTail(): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8').split('\n').slice(-20).join('\n') : '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sha256(data: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** Background consumer of an event stream, so tests can wait for particular items. */
class EventLog {
  readonly items: EventStreamItem[] = [];
  readonly done: Promise<void>;
  error: unknown;

  constructor(stream: AsyncIterable<EventStreamItem>) {
    this.done = (async () => {
      try {
        for await (const item of stream) this.items.push(item);
      } catch (err) {
        this.error = err;
      }
    })();
  }

  async waitFor(pred: (item: EventStreamItem) => boolean, timeoutMs = 10_000): Promise<EventStreamItem> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.items.find(pred);
      if (hit) return hit;
      if (this.error !== undefined) throw this.error;
      if (Date.now() > until) throw new Error(`no matching event; got ${this.items.map((i) => (i.type === 'event' ? i.topic : i.type)).join(', ')}`);
      await sleep(20);
    }
  }
}

describe('@crisp/containerd against containerd 1.6', () => {
  const containerd = new PrivateContainerd();
  const ns = `crisp-it-${process.pid}`;
  let client: ContainerdClient;
  const events = new AbortController();
  let eventLog: EventLog;

  beforeAll(async () => {
    await containerd.start();
    client = new ContainerdClient({ address: containerd.socket, namespace: ns });
    // Only this test's namespace: other namespaces' events do not concern us.
    eventLog = new EventLog(subscribeEvents(client, [`namespace=="${ns}"`], events.signal, { minBackoffMs: 50, maxBackoffMs: 500 }));
    await eventLog.waitFor((i) => i.type === 'subscribed');
  });

  afterAll(async () => {
    events.abort();
    await eventLog?.done;
    client?.close();
    await containerd.dispose();
  });

  it('pings and reports the version', async () => {
    const v = await client.ping();
    expect(v.version).toMatch(/^1\.6\./);
    expect(v.revision).not.toBe('');
    const plugins = await client.introspection.plugins({ filters: ['type==io.containerd.snapshotter.v1'] });
    expect(plugins.plugins.length).toBeGreaterThan(0);
  });

  it('creates and lists namespaces, and sees the create event', async () => {
    await client.namespaces.create({ namespace: { name: ns, labels: ownedLabels() } });
    const { namespaces } = await client.namespaces.list({});
    const mine = namespaces.find((n) => n.name === ns);
    expect(mine).toBeDefined();
    expect(isOwnedByCrisp(mine?.labels)).toBe(true);
    const ev = await eventLog.waitFor((i) => i.type === 'event' && i.topic === '/namespaces/create');
    expect(ev).toMatchObject({ namespace: ns, event: { name: ns, labels: { [OWNER_LABEL]: 'crisp' } } });
  });

  const blob = randomBytes(3 * 1024 * 1024 + 4321);
  const digest = sha256(blob);

  it('writes a 3 MiB blob and reads it back intact', async () => {
    const lease = await client.leases.create({ id: `lease-${process.pid}`, labels: ownedLabels() });
    const res = await writeContent(client, {
      ref: `it-${digest}`,
      expected: { digest, size: blob.length },
      labels: ownedLabels(),
      leaseId: lease.lease?.id,
      source: async function* (offset) {
        for (let o = offset; o < blob.length; o += 100_000) yield blob.subarray(o, o + 100_000);
      },
    });
    expect(res).toEqual({ digest, size: blob.length, existed: false, resumedFrom: 0 });

    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of readContent(client, digest)) {
      hash.update(chunk);
      size += chunk.length;
    }
    expect(size).toBe(blob.length);
    expect('sha256:' + hash.digest('hex')).toBe(digest);
    const { info } = await client.content.info({ digest });
    expect(isOwnedByCrisp(info?.labels)).toBe(true);
  });

  it('reports existing content as existed without reading the source', async () => {
    const res = await writeContent(client, {
      ref: `again-${digest}`,
      expected: { digest, size: blob.length },
      source: () => {
        throw new Error('must not be called');
      },
    });
    expect(res.existed).toBe(true);
  });

  it('resumes an interrupted write from the offset containerd holds', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const d = sha256(data);
    const ref = `resume-${d}`;
    const controller = new AbortController();
    const first = await writeContent(client, {
      ref,
      expected: { digest: d, size: data.length },
      signal: controller.signal,
      source: async function* (offset) {
        yield data.subarray(offset, offset + 1024 * 1024);
        // Interrupted once containerd holds one full chunk (writes are pipelined, so wait for it).
        const until = Date.now() + 5000;
        while (Number((await client.content.status({ ref })).status?.offset) < 1024 * 1024 && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 5));
        }
        controller.abort();
        yield data.subarray(offset + 1024 * 1024);
      },
    }).catch((e: unknown) => e);
    expect(isAbortError(first)).toBe(true);

    const { status } = await client.content.status({ ref });
    const held = Number(status?.offset);
    expect(held).toBe(1024 * 1024);

    const asked: number[] = [];
    const res = await writeContent(client, {
      ref,
      expected: { digest: d, size: data.length },
      source: async function* (offset) {
        asked.push(offset);
        yield data.subarray(offset);
      },
    });
    expect(asked).toEqual([held]);
    expect(res).toEqual({ digest: d, size: data.length, existed: false, resumedFrom: held });
    const back: Buffer[] = [];
    for await (const c of readContent(client, d)) back.push(c);
    expect(sha256(Buffer.concat(back))).toBe(d);
    await expect(client.content.status({ ref })).rejects.toMatchObject({ code: 'not-found' });
  });

  it('creates, reads and deletes a container with the OCI spec in an Any', async () => {
    const spec = { ociVersion: '1.0.2', process: { args: ['/bin/true'], cwd: '/' }, root: { path: 'rootfs' } };
    const id = `c-${process.pid}`;
    await client.containers.create({
      container: { id, image: 'example.com/x:1', runtime: { name: 'io.containerd.runc.v2' }, spec: packSpec(spec), labels: ownedLabels() },
    });
    const { container } = await client.containers.get({ id });
    expect(container?.spec?.typeUrl).toBe('types.containerd.io/opencontainers/runtime-spec/1/Spec');
    expect(unpackSpec(container!.spec!)).toEqual(spec);
    expect(isOwnedByCrisp(container?.labels)).toBe(true);

    const created = await eventLog.waitFor((i) => i.type === 'event' && i.topic === '/containers/create');
    expect(created).toMatchObject({ namespace: ns, event: { id, image: 'example.com/x:1', runtime: { name: 'io.containerd.runc.v2' } } });

    await client.containers.delete({ id });
    const err = await client.containers.get({ id }).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect(err).toMatchObject({ method: '/containerd.services.containers.v1.Containers/Get', status: 5 });
    await eventLog.waitFor((i) => i.type === 'event' && i.topic === '/containers/delete');
  });

  it('fails ping within 1 s when containerd dies, and recovers on the same client', async () => {
    await containerd.kill();
    const started = Date.now();
    const err = (await client.ping({ timeoutMs: 1000 }).catch((e: unknown) => e)) as ContainerdError;
    const elapsed = Date.now() - started;
    expect(err).toMatchObject({ name: 'ContainerdError' });
    expect(['unavailable', 'deadline-exceeded']).toContain(err.code);
    expect(elapsed).toBeLessThan(1100);

    await containerd.start(); // the probe inside uses its own client
    const restarted = Date.now();
    for (;;) {
      try {
        await client.ping({ timeoutMs: 500 });
        break;
      } catch (e) {
        if (Date.now() - restarted > 5000) throw e;
        await sleep(50);
      }
    }
    expect(Date.now() - restarted).toBeLessThan(3000);

    // The event stream noticed the gap and is live again.
    await eventLog.waitFor((i) => i.type === 'reconnected');
    const id = `after-restart-${process.pid}`;
    await client.containers.create({ container: { id, runtime: { name: 'io.containerd.runc.v2' }, spec: packSpec({}), labels: ownedLabels() } });
    await eventLog.waitFor((i) => i.type === 'event' && i.topic === '/containers/create' && i.event?.id === id);
    await client.containers.delete({ id });
  });
});
