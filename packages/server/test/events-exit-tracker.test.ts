// EventMonitor against a fake containerd (containers + tasks in memory) and a hand-fed event stream.
import { containers as containersApi, task as taskTypes } from '@crisp/api';
import { ContainerdError, nanosToTimestamp, ownedLabels, packSpec } from '@crisp/containerd';
import type { ContainerdClient, EventStreamItem, KnownEvent } from '@crisp/containerd';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc-common';
import { decodeExitLabels, encodeExitLabels } from '../src/events/exit-labels';
import { EventMonitor, eventFilters } from '../src/events/exit-tracker';
import type { ExitRecord, OomRecord } from '../src/events/exit-tracker';
import { createLogger } from '../src/log';
import { KIND_LABEL, STARTED_AT_LABEL } from '../src/store/labels';
import { tempDir } from './temp-dir';

const NS = 'k8s.io';
const logger = createLogger('silent');

type Container = containersApi.Container;

function notFound(method: string): ContainerdError {
  return new ContainerdError(method, Status.NOT_FOUND, 'not found');
}

/** The containerd calls the monitor makes, over maps. */
class FakeContainerd {
  readonly namespace = NS;
  readonly store = new Map<string, Container>();
  readonly tasksById = new Map<string, taskTypes.Process>();
  readonly updates: { id: string; mask: string[]; labels: Record<string, string> }[] = [];
  gets = 0;

  add(id: string, labels: Record<string, string>, cgroupsPath?: string): void {
    this.store.set(
      id,
      containersApi.Container.fromPartial({
        id,
        labels,
        ...(cgroupsPath ? { spec: packSpec({ linux: { cgroupsPath } }) } : {}),
      }),
    );
  }

  task(id: string, status: taskTypes.Status, exitStatus = 0, exitedAtNs = 0n, pid = 42): void {
    this.tasksById.set(id, taskTypes.Process.fromPartial({ id, containerId: '', pid, status, exitStatus, exitedAt: nanosToTimestamp(exitedAtNs) }));
  }

  labels(id: string): Record<string, string> {
    return { ...this.store.get(id)!.labels };
  }

  readonly containers = {
    get: async ({ id }: { id: string }) => {
      this.gets++;
      const c = this.store.get(id);
      if (!c) throw notFound('/containerd.services.containers.v1.Containers/Get');
      return { container: structuredClone(c) };
    },
    update: async ({ container, updateMask }: { container: Container; updateMask: string[] }) => {
      const c = this.store.get(container.id);
      if (!c) throw notFound('/containerd.services.containers.v1.Containers/Update');
      for (const p of updateMask) {
        if (!p.startsWith('labels.')) throw new Error(`unexpected mask ${p}`);
        const key = p.slice('labels.'.length);
        const v = container.labels[key];
        if (v === undefined) delete c.labels[key];
        else c.labels[key] = v;
      }
      this.updates.push({ id: container.id, mask: updateMask, labels: container.labels });
      return { container: c };
    },
    list: async () => ({ containers: [...this.store.values()].filter((c) => c.labels['io.crisp.owner'] === 'crisp').map((c) => structuredClone(c)) }),
  };

  readonly tasks = {
    list: async () => ({ tasks: [...this.tasksById.values()] }),
  };
}

/** A hand-fed event stream. */
class Feed {
  private items: EventStreamItem[] = [];
  private wake: (() => void) | undefined;

  push(item: EventStreamItem): void {
    this.items.push(item);
    this.wake?.();
  }

  event(e: Omit<KnownEvent, 'namespace' | 'timestamp'>, atNs = 1_000_000_000_000_000_000n): void {
    this.push({ type: 'event', namespace: NS, timestamp: nanosToTimestamp(atNs), ...e } as EventStreamItem);
  }

  exit(containerId: string, exitStatus: number, exitedAtNs: bigint, id = containerId): void {
    this.event({ topic: '/tasks/exit', event: { containerId, id, pid: 7, exitStatus, exitedAt: nanosToTimestamp(exitedAtNs) } });
  }

  async *iterate(signal: AbortSignal): AsyncGenerator<EventStreamItem> {
    while (!signal.aborted) {
      const next = this.items.shift();
      if (next) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      this.wake = undefined;
    }
  }
}

const owned = (kind: 'container' | 'sandbox' = 'container', extra: Record<string, string> = {}) => ownedLabels({ [KIND_LABEL]: kind, ...extra });

async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Lets queued promise chains run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

describe('EventMonitor', () => {
  let fake: FakeContainerd;
  let feed: Feed;
  let monitor: EventMonitor;
  let exits: ExitRecord[];
  let ooms: OomRecord[];

  function startMonitor(opts: { cgroupRoot?: string } = {}): void {
    monitor = new EventMonitor({
      containerd: fake as unknown as ContainerdClient,
      logger,
      events: (signal) => feed.iterate(signal),
      cgroupRoot: opts.cgroupRoot ?? tempDir('crisp-nocg-'),
    });
    monitor.onExit((e) => exits.push(e));
    monitor.onOom((o) => ooms.push(o));
    monitor.start();
  }

  beforeEach(() => {
    fake = new FakeContainerd();
    feed = new Feed();
    exits = [];
    ooms = [];
  });

  afterEach(async () => {
    await monitor?.stop();
  });

  it('subscribes to exit, OOM, start, delete and image events of its namespace only', () => {
    expect(eventFilters('k8s.io')).toEqual([
      'namespace=="k8s.io",topic=="/tasks/exit"',
      'namespace=="k8s.io",topic=="/tasks/oom"',
      'namespace=="k8s.io",topic=="/tasks/start"',
      'namespace=="k8s.io",topic=="/containers/delete"',
      'namespace=="k8s.io",topic=="/images/create"',
      'namespace=="k8s.io",topic=="/images/update"',
      'namespace=="k8s.io",topic=="/images/delete"',
    ]);
  });

  it('records a non-zero exit on the container labels with reason Error and tells listeners', async () => {
    fake.add('c1', owned());
    startMonitor();
    feed.exit('c1', 3, 1_700_000_000_000_000_001n);
    await until(() => exits.length === 1, 'exit');
    expect(decodeExitLabels(fake.labels('c1'))).toEqual({ exitCode: 3, exitedAt: 1_700_000_000_000_000_001n, reason: 'Error' });
    expect(fake.updates[0]!.mask).toEqual(['labels.io.crisp.exit.code', 'labels.io.crisp.exit.at', 'labels.io.crisp.exit.reason']);
    expect(exits[0]).toMatchObject({ containerId: 'c1', kind: 'container', exitCode: 3, reason: 'Error', pid: 7, source: 'event', amended: false });
    expect(monitor.lastExit('c1')).toEqual(exits[0]);
    expect(fake.labels('c1')['io.crisp.owner']).toBe('crisp'); // other labels untouched
  });

  it('exit 0 is Completed; sandboxes are tracked too', async () => {
    fake.add('s1', owned('sandbox'));
    startMonitor();
    feed.exit('s1', 0, 5n);
    await until(() => exits.length === 1, 'exit');
    expect(exits[0]).toMatchObject({ kind: 'sandbox', exitCode: 0, reason: 'Completed' });
  });

  it('ignores execs, containers of others, and unknown containers', async () => {
    fake.add('c1', owned());
    fake.add('theirs', { 'io.cri-containerd.kind': 'container' });
    fake.add('nokind', ownedLabels());
    startMonitor();
    feed.exit('c1', 1, 5n, 'exec-1');
    feed.exit('theirs', 1, 5n);
    feed.exit('nokind', 1, 5n);
    feed.exit('gone', 1, 5n);
    feed.push({ type: 'event', namespace: 'other', timestamp: undefined, topic: '/tasks/exit', event: { containerId: 'c1', id: 'c1', pid: 1, exitStatus: 9, exitedAt: undefined } } as EventStreamItem);
    feed.exit('c1', 2, 6n); // the real one, after all of the above
    await until(() => exits.length === 1, 'exit');
    await settle();
    expect(exits).toHaveLength(1);
    expect(exits[0]).toMatchObject({ containerId: 'c1', exitCode: 2 });
    expect(fake.updates.map((u) => u.id)).toEqual(['c1']);
  });

  it('an OOM before the exit makes it OOMKilled and is announced', async () => {
    fake.add('c1', owned());
    startMonitor();
    feed.event({ topic: '/tasks/oom', event: { containerId: 'c1' } }, 77n);
    feed.exit('c1', 137, 80n);
    await until(() => exits.length === 1, 'exit');
    expect(ooms).toEqual([{ containerId: 'c1', kind: 'container', at: 77n }]);
    expect(exits[0]).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
    expect(decodeExitLabels(fake.labels('c1'))?.reason).toBe('OOMKilled');
  });

  it('an OOM after the exit upgrades the recorded reason', async () => {
    fake.add('c1', owned());
    startMonitor();
    feed.exit('c1', 137, 80n);
    await until(() => exits.length === 1, 'exit');
    expect(exits[0]!.reason).toBe('Error');
    feed.event({ topic: '/tasks/oom', event: { containerId: 'c1' } }, 81n);
    await until(() => exits.length === 2, 'upgraded exit');
    expect(exits[1]).toMatchObject({ exitCode: 137, exitedAt: 80n, reason: 'OOMKilled', amended: true });
    expect(decodeExitLabels(fake.labels('c1'))).toEqual({ exitCode: 137, exitedAt: 80n, reason: 'OOMKilled' });
  });

  it('falls back to the cgroup oom_kill counter when no OOM event was seen', async () => {
    const root = tempDir('crisp-cg-');
    mkdirSync(path.join(root, 'memory', 'k8s.io', 'c1'), { recursive: true });
    writeFileSync(path.join(root, 'memory', 'k8s.io', 'c1', 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    fake.add('c1', owned(), '/k8s.io/c1');
    fake.add('c2', owned(), '/k8s.io/c2'); // no cgroup left: plain Error
    startMonitor({ cgroupRoot: root });
    feed.exit('c1', 137, 80n);
    feed.exit('c2', 137, 80n);
    await until(() => exits.length === 2, 'exits');
    expect(Object.fromEntries(exits.map((e) => [e.containerId, e.reason]))).toEqual({ c1: 'OOMKilled', c2: 'Error' });
  });

  it('records an exit once: a re-sent TaskExit changes nothing', async () => {
    fake.add('c1', owned());
    startMonitor();
    feed.exit('c1', 1, 80n);
    feed.exit('c1', 1, 80n);
    await until(() => exits.length === 1, 'exit');
    await settle();
    expect(exits).toHaveLength(1);
    expect(fake.updates).toHaveLength(1);
  });

  it('records the start time from /tasks/start unless the container has one', async () => {
    fake.add('c1', owned());
    fake.add('c2', owned('container', { [STARTED_AT_LABEL]: '123' }));
    startMonitor();
    feed.event({ topic: '/tasks/start', event: { containerId: 'c1', pid: 5 } }, 555n);
    feed.event({ topic: '/tasks/start', event: { containerId: 'c2', pid: 6 } }, 666n);
    await until(() => fake.labels('c1')[STARTED_AT_LABEL] === '555', 'started label');
    await settle();
    expect(fake.labels('c2')[STARTED_AT_LABEL]).toBe('123');
    expect(fake.updates.map((u) => u.id)).toEqual(['c1']);
  });

  it('reconciles when subscribed: stopped tasks, vanished tasks, running ones, never-started ones', async () => {
    fake.add('stopped', owned());
    fake.task('stopped', taskTypes.Status.STOPPED, 2, 900n);
    fake.add('vanished', owned('container', { [STARTED_AT_LABEL]: '100' }));
    fake.add('created', owned()); // no task and never started: still CREATED, not an exit
    fake.add('created-task', owned());
    fake.task('created-task', taskTypes.Status.CREATED);
    fake.add('running', owned());
    fake.task('running', taskTypes.Status.RUNNING);
    fake.add('done', owned('container', encodeExitLabels({ exitCode: 0, exitedAt: 50n, reason: 'Completed' })));
    fake.add('sandbox', owned('sandbox', { [STARTED_AT_LABEL]: '100' }));
    fake.task('sandbox', taskTypes.Status.STOPPED, 137, 950n);
    startMonitor();
    const before = BigInt(Date.now()) * 1_000_000n;
    feed.push({ type: 'subscribed' });
    await monitor.reconciled();
    const byId = Object.fromEntries(exits.map((e) => [e.containerId, e]));
    expect(Object.keys(byId).sort()).toEqual(['sandbox', 'stopped', 'vanished']);
    expect(byId['stopped']).toMatchObject({ exitCode: 2, exitedAt: 900n, reason: 'Error', source: 'reconcile' });
    expect(byId['sandbox']).toMatchObject({ kind: 'sandbox', exitCode: 137, reason: 'Error' });
    expect(byId['vanished']).toMatchObject({ exitCode: 255, reason: 'Unknown', source: 'reconcile', pid: 0 });
    expect(byId['vanished']!.exitedAt).toBeGreaterThanOrEqual(before);
    expect(decodeExitLabels(fake.labels('vanished'))?.reason).toBe('Unknown');
    expect(decodeExitLabels(fake.labels('created'))).toBeUndefined();
    expect(decodeExitLabels(fake.labels('created-task'))).toBeUndefined();
    expect(decodeExitLabels(fake.labels('running'))).toBeUndefined();
    expect(BigInt(fake.labels('running')[STARTED_AT_LABEL]!)).toBeGreaterThanOrEqual(before);
    // Already recorded: known to lastExit, not announced again, not rewritten.
    expect(monitor.lastExit('done')).toMatchObject({ exitCode: 0, reason: 'Completed', source: 'labels' });
    expect(fake.updates.some((u) => u.id === 'done')).toBe(false);
  });

  it('reconciles again after a reconnect, and a real exit replaces an Unknown one', async () => {
    fake.add('c1', owned('container', { [STARTED_AT_LABEL]: '100' }));
    fake.task('c1', taskTypes.Status.RUNNING);
    startMonitor();
    feed.push({ type: 'subscribed' });
    await monitor.reconciled();
    expect(exits).toHaveLength(0);
    // The task vanished while the stream was down.
    fake.tasksById.delete('c1');
    feed.push({ type: 'reconnected', cause: new Error('gone') });
    await until(() => exits.length === 1, 'unknown exit');
    expect(exits[0]).toMatchObject({ exitCode: 255, reason: 'Unknown' });
    // The shim re-sends the real exit once containerd is back.
    feed.exit('c1', 0, 777n);
    await until(() => exits.length === 2, 'real exit');
    expect(exits[0]!.amended).toBe(false);
    expect(exits[1]).toMatchObject({ exitCode: 0, exitedAt: 777n, reason: 'Completed', source: 'event', amended: true });
    expect(decodeExitLabels(fake.labels('c1'))).toEqual({ exitCode: 0, exitedAt: 777n, reason: 'Completed' });
  });

  it('an exit recorded by an event is not recorded again by a reconcile with older data', async () => {
    fake.add('c1', owned('container', { [STARTED_AT_LABEL]: '100' }));
    startMonitor();
    feed.exit('c1', 4, 300n);
    await until(() => exits.length === 1, 'exit');
    // A listing taken before the labels were written: no exit recorded, no task, started → would be Unknown.
    fake.containers.list = async () => ({
      containers: [containersApi.Container.fromPartial({ id: 'c1', labels: owned('container', { [STARTED_AT_LABEL]: '100' }) })],
    });
    await monitor.reconciled();
    expect(exits).toHaveLength(1);
    expect(decodeExitLabels(fake.labels('c1'))).toMatchObject({ exitCode: 4 });
  });

  it('waitForExit resolves when the exit is recorded, at once when it is known, and honours abort', async () => {
    fake.add('c1', owned());
    startMonitor();
    const waiting = monitor.waitForExit('c1');
    const aborted = new AbortController();
    const abortedWait = monitor.waitForExit('c1', aborted.signal);
    aborted.abort();
    await expect(abortedWait).rejects.toMatchObject({ name: 'AbortError' });
    feed.exit('c1', 9, 10n);
    await expect(waiting).resolves.toMatchObject({ containerId: 'c1', exitCode: 9 });
    await expect(monitor.waitForExit('c1')).resolves.toMatchObject({ exitCode: 9 });
  });

  it('forgets a deleted container', async () => {
    fake.add('c1', owned());
    startMonitor();
    feed.exit('c1', 1, 10n);
    await until(() => exits.length === 1, 'exit');
    feed.event({ topic: '/containers/delete', event: { id: 'c1' } });
    await until(() => monitor.lastExit('c1') === undefined, 'forgotten');
  });

  it('a container deleted before its exit is written is skipped quietly', async () => {
    fake.add('c1', owned());
    const realUpdate = fake.containers.update;
    fake.containers.update = async (req) => {
      fake.store.delete(req.container.id); // RemoveContainer won the race
      return realUpdate(req);
    };
    startMonitor();
    feed.exit('c1', 1, 10n);
    await settle();
    await until(() => fake.gets >= 1, 'get');
    await settle();
    expect(exits).toHaveLength(0);
    expect(monitor.lastExit('c1')).toBeUndefined();
  });

  it('a listener that throws does not stop the others', async () => {
    fake.add('c1', owned());
    startMonitor();
    monitor.onExit(() => {
      throw new Error('boom');
    });
    const seen: string[] = [];
    monitor.onExit((e) => seen.push(e.containerId));
    feed.exit('c1', 1, 10n);
    await until(() => seen.length === 1, 'second listener');
  });

  it('unsubscribing a listener stops its calls; stop() is idempotent and restartable', async () => {
    fake.add('c1', owned());
    fake.add('c2', owned());
    startMonitor();
    const seen: string[] = [];
    const off = monitor.onExit((e) => seen.push(e.containerId));
    feed.exit('c1', 1, 10n);
    await until(() => seen.length === 1, 'c1');
    off();
    feed.exit('c2', 1, 10n);
    await until(() => exits.length === 2, 'c2');
    expect(seen).toEqual(['c1']);
    await monitor.stop();
    await monitor.stop();
    monitor.start();
    fake.add('c3', owned());
    feed.exit('c3', 1, 10n);
    await until(() => exits.length === 3, 'c3 after restart');
  });

  it('keeps retrying a reconcile that fails', async () => {
    fake.add('c1', owned());
    fake.task('c1', taskTypes.Status.STOPPED, 5, 10n);
    let failures = 1;
    const realList = fake.tasks.list;
    fake.tasks.list = async () => {
      if (failures-- > 0) throw new ContainerdError('/containerd.services.tasks.v1.Tasks/List', Status.UNAVAILABLE, 'down');
      return realList();
    };
    startMonitor();
    feed.push({ type: 'subscribed' });
    await until(() => exits.length === 1, 'exit after retry', 5000);
    expect(exits[0]).toMatchObject({ exitCode: 5, source: 'reconcile' });
  });

  describe('containers crisp vouches for', () => {
    it('records their start and exit without reading them back, once each', async () => {
      fake.add('c1', owned());
      startMonitor();
      monitor.addKnownContainers((id) => (id === 'c1' ? { kind: 'container', cgroupsPath: undefined } : undefined));
      feed.event({ topic: '/tasks/start', event: { containerId: 'c1', pid: 5 } }, 555n);
      feed.event({ topic: '/tasks/start', event: { containerId: 'c1', pid: 5 } }, 556n); // re-sent
      feed.exit('c1', 2, 900n);
      feed.exit('c1', 2, 900n); // re-sent
      await until(() => exits.length === 1, 'exit');
      await settle();
      expect(fake.gets).toBe(0);
      expect(fake.labels('c1')[STARTED_AT_LABEL]).toBe('555');
      expect(decodeExitLabels(fake.labels('c1'))).toEqual({ exitCode: 2, exitedAt: 900n, reason: 'Error' });
      expect(exits).toHaveLength(1);
      expect(exits[0]).toMatchObject({ containerId: 'c1', kind: 'container', exitCode: 2, reason: 'Error', source: 'event', amended: false });
      expect(fake.updates).toHaveLength(2);
    });

    it('takes the cgroup for the OOM fallback from what crisp knows', async () => {
      const root = tempDir('crisp-cg-');
      mkdirSync(path.join(root, 'memory', 'k8s.io', 'c1'), { recursive: true });
      writeFileSync(path.join(root, 'memory', 'k8s.io', 'c1', 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
      fake.add('c1', owned()); // no spec in containerd: only crisp's memory has the path
      startMonitor({ cgroupRoot: root });
      monitor.addKnownContainers((id) => (id === 'c1' ? { kind: 'container', cgroupsPath: '/k8s.io/c1' } : undefined));
      feed.exit('c1', 137, 80n);
      await until(() => exits.length === 1, 'exit');
      expect(exits[0]).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
      expect(fake.gets).toBe(0);
    });

    it('others are still read back: ownership and recorded labels decide', async () => {
      fake.add('c1', owned('container', encodeExitLabels({ exitCode: 0, exitedAt: 50n, reason: 'Completed' })));
      fake.add('theirs', { 'io.cri-containerd.kind': 'container' });
      startMonitor();
      monitor.addKnownContainers(() => undefined);
      feed.exit('theirs', 1, 5n);
      feed.exit('c1', 1, 60n);
      await until(() => monitor.lastExit('c1') !== undefined, 'c1 exit known');
      await settle();
      expect(fake.gets).toBe(2);
      expect(exits).toHaveLength(0);
      expect(fake.updates).toHaveLength(0);
    });
  });

  it('tells image change listeners of image events; its live epoch changes with each subscription', async () => {
    startMonitor();
    const changes: number[] = [];
    monitor.onImageChange(() => changes.push(changes.length));
    expect(monitor.liveEpoch()).toBeUndefined();
    feed.push({ type: 'subscribed' });
    await until(() => monitor.liveEpoch() !== undefined, 'live');
    const first = monitor.liveEpoch();
    feed.event({ topic: '/images/create', event: { name: 'a', labels: {} } });
    feed.event({ topic: '/images/update', event: { name: 'a', labels: {} } });
    feed.event({ topic: '/images/delete', event: { name: 'a' } });
    await until(() => changes.length === 3, 'image changes');
    feed.push({ type: 'reconnected', cause: new Error('lost') });
    await until(() => monitor.liveEpoch() !== first, 'new epoch');
    expect(monitor.liveEpoch()).toBeDefined();
    await monitor.stop();
    expect(monitor.liveEpoch()).toBeUndefined();
  });
});
