import { Status } from 'nice-grpc-common';
import { taskEvents } from '@crisp/api';
import { ContainerdClient, SYNC_TOPIC_PREFIX, packMessage, subscribeEvents } from '../src';
import type { EventStreamItem } from '../src';
import { FakeContainerd } from './fake-containerd';

/** Pulls items from the stream in the background so the test can wait for specific ones. */
class Collector {
  readonly items: EventStreamItem[] = [];
  error: unknown;
  ended = false;
  readonly done: Promise<void>;

  constructor(stream: AsyncIterable<EventStreamItem>) {
    this.done = (async () => {
      try {
        for await (const item of stream) this.items.push(item);
      } catch (err) {
        this.error = err;
      } finally {
        this.ended = true;
      }
    })();
  }

  async waitFor(pred: (i: EventStreamItem) => boolean, timeoutMs = 5000): Promise<EventStreamItem> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.items.find(pred);
      if (found) return found;
      if (this.ended) throw new Error(`stream ended: ${String(this.error)}`);
      if (Date.now() > until) throw new Error(`timed out; have ${JSON.stringify(this.items.map((i) => i.type))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

const exitAny = (id: string) =>
  packMessage('containerd.events.TaskExit', taskEvents.TaskExit, { containerId: id, id, pid: 1, exitStatus: 0, exitedAt: undefined });

describe('subscribeEvents', () => {
  let fake: FakeContainerd;
  let client: ContainerdClient;
  let controller: AbortController;

  beforeEach(async () => {
    fake = new FakeContainerd();
    await fake.start();
    client = new ContainerdClient({ address: fake.address, namespace: 'crisp' });
    controller = new AbortController();
  });

  afterEach(async () => {
    controller.abort();
    client.close();
    await fake.dispose();
  });

  it('yields subscribed once live, then decoded events, and never the sync events', async () => {
    const c = new Collector(subscribeEvents(client, ['topic~="/tasks/"'], controller.signal));
    await c.waitFor((i) => i.type === 'subscribed');
    expect(c.items[0]).toEqual({ type: 'subscribed' });
    fake.emit('/tasks/exit', exitAny('c1'), 'k8s.io');
    fake.emit('/containers/create', { typeUrl: 'x', value: Buffer.alloc(0) }); // filtered by the server
    fake.emit('/tasks/exit', exitAny('c2'), 'k8s.io');
    await c.waitFor((i) => i.type === 'event' && i.event !== undefined && i.topic === '/tasks/exit' && i.event.containerId === 'c2');
    const events = c.items.filter((i) => i.type === 'event');
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ type: 'event', topic: '/tasks/exit', namespace: 'k8s.io', event: { containerId: 'c1' } });
    expect(c.items.some((i) => i.type === 'event' && i.topic.startsWith(SYNC_TOPIC_PREFIX))).toBe(false);
    // The sync filter was added (ORed) so the sync event passes the caller's filters.
    const sub = fake.lastCall('Events.Subscribe');
    expect(sub).toBeDefined();
    controller.abort();
    await c.done;
    expect(c.error).toBeUndefined();
  });

  it('republishes the sync event until the subscription proves live', async () => {
    fake.dropPublishes = 2;
    const c = new Collector(subscribeEvents(client, [], controller.signal));
    await c.waitFor((i) => i.type === 'subscribed');
    expect(fake.calls.filter((x) => x.method === 'Events.Publish').length).toBeGreaterThanOrEqual(3);
  });

  it('resubscribes after the server goes away and marks the gap with reconnected', async () => {
    const c = new Collector(subscribeEvents(client, [], controller.signal, { minBackoffMs: 20, maxBackoffMs: 100 }));
    await c.waitFor((i) => i.type === 'subscribed');
    fake.emit('/tasks/exit', exitAny('before'));
    await c.waitFor((i) => i.type === 'event');

    fake.stop();
    await new Promise((r) => setTimeout(r, 300));
    await fake.start();
    const marker = await c.waitFor((i) => i.type === 'reconnected');
    expect(marker).toMatchObject({ type: 'reconnected', cause: expect.objectContaining({ name: expect.any(String) }) });
    expect(fake.subscriberCount).toBe(1);
    fake.emit('/tasks/exit', exitAny('after'));
    await c.waitFor((i) => i.type === 'event' && i.event !== undefined && i.topic === '/tasks/exit' && i.event.containerId === 'after');
    expect(c.items.map((i) => i.type)).toEqual(['subscribed', 'event', 'reconnected', 'event']);
  });

  it('keeps retrying while containerd is down at first, then reports subscribed', async () => {
    fake.stop();
    const c = new Collector(subscribeEvents(client, [], controller.signal, { minBackoffMs: 20, maxBackoffMs: 50 }));
    await new Promise((r) => setTimeout(r, 200));
    expect(c.items).toEqual([]);
    await fake.start();
    await c.waitFor((i) => i.type === 'subscribed');
  });

  it('ends cleanly on abort, also while backing off, and when the consumer breaks', async () => {
    const c = new Collector(subscribeEvents(client, [], controller.signal));
    await c.waitFor((i) => i.type === 'subscribed');
    controller.abort();
    await c.done;
    expect(c.error).toBeUndefined();
    await waitUntil(() => fake.subscriberCount === 0);

    fake.stop();
    const c2 = new AbortController();
    const backingOff = new Collector(subscribeEvents(client, [], c2.signal, { minBackoffMs: 5000, maxBackoffMs: 5000 }));
    await new Promise((r) => setTimeout(r, 100));
    c2.abort();
    await backingOff.done;
    expect(backingOff.error).toBeUndefined();

    await fake.start();
    const c3 = new AbortController();
    for await (const item of subscribeEvents(client, [], c3.signal)) {
      expect(item.type).toBe('subscribed');
      break;
    }
    await waitUntil(() => fake.subscriberCount === 0);
  });

  it('throws errors retrying cannot fix', async () => {
    fake.subscribeError = Status.INVALID_ARGUMENT;
    const c = new Collector(subscribeEvents(client, ['bad filter'], controller.signal));
    await c.done;
    expect(c.error).toMatchObject({ name: 'ContainerdError', code: 'invalid-argument' });
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
