// Exit tracking against a real containerd 1.6 + runc: containers made with raw containerd calls (as
// crisp's container manager would, with crisp's owner labels), watched by EventMonitor. Checks that
// exits land durably on the containerd container (labels), OOM kills are told apart (cgroup v1 here),
// exits missed while the monitor was down are reconciled, and a containerd restart is survived.
import { containers as containersApi, task as taskTypes } from '@crisp/api';
import { ContainerdClient, isNotFound, ownedLabels, packSpec, withLease } from '@crisp/containerd';
import { readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { pushFixtures, startRegistry, startTestContainerd } from '@crisp/e2e';
import type { PushedFixture, TestContainerd, TestRegistry } from '@crisp/e2e';
import { decodeExitLabels, decodeStartedLabel, encodeStartedLabel, EventMonitor, STARTED_UPDATE_MASK } from '../../packages/server/src/events';
import type { ExitRecord, OomRecord } from '../../packages/server/src/events';
import { chainId } from '../../packages/server/src/image/chain-id';
import { createLogger } from '../../packages/server/src/log';
import { defaultSpec } from '../../packages/server/src/oci';
import { KIND_LABEL } from '../../packages/server/src/store/labels';

jest.setTimeout(60_000);

const NS = 'crisp-events';
const SNAPSHOTTER = 'overlayfs';
const MiB = 1024 * 1024;
const logger = createLogger(process.env['CRISP_TEST_LOG'] ?? 'silent');

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

describe('EventMonitor against containerd', () => {
  let cd: TestContainerd;
  let reg: TestRegistry;
  let busybox: PushedFixture;
  let client: ContainerdClient;
  let parent: string;
  let monitor: EventMonitor;
  const exits: ExitRecord[] = [];
  const ooms: OomRecord[] = [];
  let seq = 0;

  function newMonitor(): EventMonitor {
    const m = new EventMonitor({ containerd: client, logger, subscribe: { minBackoffMs: 50, maxBackoffMs: 500 } });
    m.onExit((e) => exits.push(e));
    m.onOom((o) => ooms.push(o));
    m.start();
    return m;
  }

  /** A crisp-labelled container running `args` in busybox, its task created and started (no stdio). */
  async function run(args: string[], opts: { memoryLimit?: number } = {}): Promise<string> {
    const id = `ev-${++seq}-${process.pid}`;
    const spec = defaultSpec();
    spec.process!.args = args;
    spec.linux!.cgroupsPath = `/${NS}/${id}`;
    if (opts.memoryLimit) {
      // swap = limit: no swap on top (kubelet's and containerd's CRI default); this machine has none anyway.
      spec.linux!.resources = { ...spec.linux!.resources, memory: { limit: opts.memoryLimit, swap: opts.memoryLimit } };
    }
    // Under a lease until the container references the snapshot: containerd's GC (set off by any
    // delete) would otherwise take the fresh snapshot in between.
    const { lease } = await client.leases.create({ id: `lease-${id}`, labels: {} });
    let mounts;
    try {
      ({ mounts } = await client.snapshots.prepare({ snapshotter: SNAPSHOTTER, key: id, parent, labels: {} }, withLease(lease!.id)));
      await client.containers.create(
        {
          container: containersApi.Container.fromPartial({
            id,
            image: busybox.reference,
            labels: ownedLabels({ [KIND_LABEL]: 'container' }),
            runtime: { name: 'io.containerd.runc.v2' },
            spec: packSpec(spec),
            snapshotter: SNAPSHOTTER,
            snapshotKey: id,
          }),
        },
        withLease(lease!.id),
      );
    } finally {
      await client.leases.delete({ id: lease!.id, sync: false });
    }
    await client.tasks.create({ containerId: id, rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false, runtimePath: '' });
    await client.tasks.start({ containerId: id, execId: '' });
    return id;
  }

  async function labelsOf(id: string): Promise<Record<string, string>> {
    const { container } = await client.containers.get({ id });
    return container!.labels;
  }

  async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const taskStopped = (id: string) =>
    waitFor(`${id} to stop`, async () => {
      const { process } = await client.tasks.get({ containerId: id, execId: '' });
      return process?.status === taskTypes.Status.STOPPED ? process : undefined;
    });

  beforeAll(async () => {
    [cd, reg] = await Promise.all([startTestContainerd(), startRegistry()]);
    ({ busybox } = await pushFixtures(reg, ['busybox']));
    const pulled = await cd.ctr(['images', 'pull', '--plain-http', busybox.reference], { namespace: NS, timeoutMs: 30_000 });
    if (pulled.code !== 0) throw new Error(`ctr pull: ${pulled.stderr}`);
    parent = chainId(busybox.image.diffIds)!;
    client = new ContainerdClient({ address: cd.address, namespace: NS, defaultTimeoutMs: 10_000 });
    monitor = newMonitor();
    await monitor.reconciled();
  });

  afterAll(async () => {
    await monitor?.stop();
    client?.close();
    await cd?.cleanup();
    await reg?.stop();
    // runc made /<namespace> in every cgroup v1 controller; the containers' own cgroups are gone by now.
    for (const ctrl of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(path.join('/sys/fs/cgroup', ctrl, NS));
      } catch {
        // not there, or still used by a concurrent run
      }
    }
  });

  it('records exit 3 of `sh -c "exit 3"` on the container with reason Error and its time', async () => {
    const before = nowNs();
    const id = await run(['sh', '-c', 'exit 3']);
    const exit = await monitor.waitForExit(id, AbortSignal.timeout(15_000));
    const after = nowNs();
    expect(exit).toMatchObject({ containerId: id, kind: 'container', exitCode: 3, reason: 'Error', source: 'event' });
    expect(exit.pid).toBeGreaterThan(0);
    expect(exit.exitedAt).toBeGreaterThan(before);
    expect(exit.exitedAt).toBeLessThanOrEqual(after);
    // Durable: on the containerd container, equal to what containerd's task says.
    const labels = await labelsOf(id);
    expect(decodeExitLabels(labels)).toEqual({ exitCode: 3, exitedAt: exit.exitedAt, reason: 'Error' });
    const stopped = await taskStopped(id);
    expect(stopped.exitStatus).toBe(3);
    // The start time came from /tasks/start (the event's time: for a process this short-lived that
    // can be a few µs after its exit, as containerd's CRI StartedAt can be).
    const started = await waitFor('started label', async () => decodeStartedLabel(await labelsOf(id)));
    expect(started).toBeGreaterThanOrEqual(before);
    expect(started).toBeLessThanOrEqual(after);
    expect(exits.filter((e) => e.containerId === id)).toHaveLength(1);
  });

  it('records exit 0 as Completed', async () => {
    const id = await run(['true']);
    const exit = await monitor.waitForExit(id, AbortSignal.timeout(15_000));
    expect(exit).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(decodeExitLabels(await labelsOf(id))?.reason).toBe('Completed');
  });

  it('records a memory hog under a 16 MiB limit as OOMKilled (137), having seen /tasks/oom', async () => {
    const ids = await Promise.all([
      run(['sh', '-c', 'x=x; while :; do x=$x$x; done'], { memoryLimit: 16 * MiB }),
      run(['tail', '/dev/zero'], { memoryLimit: 16 * MiB }),
    ]);
    for (const id of ids) {
      const exit = await monitor.waitForExit(id, AbortSignal.timeout(20_000));
      expect(exit).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
      expect(decodeExitLabels(await labelsOf(id))).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
      // cgroup v1 here: the shim's memory.oom_control eventfd fires, containerd publishes /tasks/oom.
      expect(ooms.some((o) => o.containerId === id)).toBe(true);
    }
  });

  it('a SIGKILL that is not an OOM stays Error', async () => {
    const id = await run(['sleep', '1000'], { memoryLimit: 64 * MiB });
    await waitFor('running', async () => ((await client.tasks.get({ containerId: id, execId: '' })).process?.status === taskTypes.Status.RUNNING ? true : undefined));
    await client.tasks.kill({ containerId: id, execId: '', signal: 9, all: false });
    const exit = await monitor.waitForExit(id, AbortSignal.timeout(15_000));
    expect(exit).toMatchObject({ exitCode: 137, reason: 'Error' });
  });

  it('reconciles exits missed while no monitor ran: a stopped task and a vanished one', async () => {
    await monitor.stop();
    const stoppedId = await run(['sh', '-c', 'exit 5']);
    const vanishedId = await run(['sleep', '1000']);
    // What crisp's container manager does at StartContainer (no monitor saw the /tasks/start).
    await client.containers.update({ container: containersApi.Container.fromPartial({ id: vanishedId, labels: encodeStartedLabel(nowNs()) }), updateMask: [...STARTED_UPDATE_MASK] });
    const neverStarted = `ev-created-${process.pid}`;
    await client.containers.create({
      container: containersApi.Container.fromPartial({ id: neverStarted, labels: ownedLabels({ [KIND_LABEL]: 'container' }), runtime: { name: 'io.containerd.runc.v2' }, spec: packSpec(defaultSpec()) }),
    });
    const stopped = await taskStopped(stoppedId);
    // The sleeper's task is killed and deleted behind crisp's back.
    await client.tasks.kill({ containerId: vanishedId, execId: '', signal: 9, all: true });
    await taskStopped(vanishedId);
    await client.tasks.delete({ containerId: vanishedId });
    expect(decodeExitLabels(await labelsOf(stoppedId))).toBeUndefined();

    const before = nowNs();
    monitor = newMonitor();
    await monitor.reconciled();
    expect(monitor.lastExit(stoppedId)).toMatchObject({ exitCode: 5, reason: 'Error', source: 'reconcile' });
    expect(decodeExitLabels(await labelsOf(stoppedId))).toEqual({
      exitCode: 5,
      exitedAt: BigInt(stopped.exitedAt!.seconds) * 1_000_000_000n + BigInt(stopped.exitedAt!.nanos),
      reason: 'Error',
    });
    const vanished = decodeExitLabels(await labelsOf(vanishedId));
    expect(vanished).toMatchObject({ exitCode: 255, reason: 'Unknown' });
    expect(vanished!.exitedAt).toBeGreaterThanOrEqual(before);
    expect(decodeExitLabels(await labelsOf(neverStarted))).toBeUndefined();
    // Already recorded exits are loaded, not announced again.
    const exitsBefore = exits.length;
    const again = newMonitor();
    await again.reconciled();
    await again.stop();
    expect(exits.length).toBe(exitsBefore);
    await client.containers.delete({ id: neverStarted }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  });

  it('survives a containerd restart: an exit while it was down and one after it are recorded', async () => {
    const live = monitor.subscriptions;
    const during = await run(['sh', '-c', 'sleep 1; exit 6']);
    await cd.stop();
    await new Promise((r) => setTimeout(r, 1500)); // `during` exits while containerd is down
    await cd.restart();
    await waitFor('the subscription to be live again', async () => (monitor.subscriptions > live ? true : undefined), 20_000);
    await monitor.reconciled();
    // The shim re-sends the exit, or the reconcile finds the stopped task: the real code either way.
    const missed = await monitor.waitForExit(during, AbortSignal.timeout(15_000));
    expect(missed).toMatchObject({ exitCode: 6, reason: 'Error' });
    expect(decodeExitLabels(await labelsOf(during))).toMatchObject({ exitCode: 6, reason: 'Error' });
    const after = await run(['sh', '-c', 'exit 7']);
    const exit = await monitor.waitForExit(after, AbortSignal.timeout(15_000));
    expect(exit).toMatchObject({ exitCode: 7, reason: 'Error', source: 'event' });
    expect(decodeExitLabels(await labelsOf(after))?.exitCode).toBe(7);
  });
});
