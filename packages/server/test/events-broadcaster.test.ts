import { cri } from '@crisp/api';
import path from 'node:path';
import { createChannel, createClient, createServer } from 'nice-grpc';
import type { Channel, Client, Server } from 'nice-grpc';
import { ClientError, Status } from 'nice-grpc-common';
import type { CallContext } from 'nice-grpc-common';
import { CrispError } from '../src/errors';
import { ContainerEventBroadcaster, DEFAULT_EVENT_QUEUE_SIZE, getContainerEvents } from '../src/events/container-events';
import { createLogger } from '../src/log';
import { rpcMiddleware } from '../src/server/rpc-middleware';
import { withUnimplemented } from '../src/server/unimplemented';
import { tempDir } from './temp-dir';

function ev(i: number, type = cri.ContainerEventType.CONTAINER_STARTED_EVENT): cri.ContainerEventResponse {
  return cri.ContainerEventResponse.fromPartial({ containerId: `c${i}`, containerEventType: type, createdAt: BigInt(i) });
}

async function take(it: AsyncIterator<cri.ContainerEventResponse>, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value.containerId);
  }
  return out;
}

const ids = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => `c${from + i}`);

describe('ContainerEventBroadcaster', () => {
  it('gives every subscriber every event, in order', async () => {
    const b = new ContainerEventBroadcaster();
    const a = b.subscribe();
    const c = b.subscribe();
    expect(b.subscriberCount).toBe(2);
    for (let i = 0; i < 10; i++) b.publish(ev(i));
    expect(await take(a, 10)).toEqual(ids(0, 10));
    expect(await take(c, 10)).toEqual(ids(0, 10));
  });

  it('delivers to a reader already waiting, and registers at subscribe() (not at the first read)', async () => {
    const b = new ContainerEventBroadcaster();
    const a = b.subscribe();
    const pending = a.next();
    b.publish(ev(1));
    expect((await pending).value?.containerId).toBe('c1');
    const late = b.subscribe();
    b.publish(ev(2)); // published before late's first next()
    expect(await take(late, 1)).toEqual(['c2']);
    expect(await take(a, 1)).toEqual(['c2']);
  });

  it('does not replay events published before subscribing', async () => {
    const b = new ContainerEventBroadcaster();
    b.publish(ev(0));
    const a = b.subscribe();
    b.publish(ev(1));
    expect(await take(a, 1)).toEqual(['c1']);
  });

  it('ends a subscriber that falls behind with RESOURCE_EXHAUSTED while a fast one continues', async () => {
    const b = new ContainerEventBroadcaster({ queueSize: 5 });
    const slow = b.subscribe();
    const fast = b.subscribe();
    const got: string[] = [];
    for (let i = 0; i < 20; i++) {
      b.publish(ev(i));
      got.push(...(await take(fast, 1)));
    }
    expect(got).toEqual(ids(0, 20));
    expect(b.subscriberCount).toBe(1); // the slow one was dropped at the 6th event, not kept around
    const err = await slow.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CrispError);
    expect((err as CrispError).code).toBe(Status.RESOURCE_EXHAUSTED);
    // After the error the stream is over.
    expect(await slow.next()).toEqual({ value: undefined, done: true });
    // The fast one keeps going.
    b.publish(ev(99));
    expect(await take(fast, 1)).toEqual(['c99']);
  });

  it('cuts off exactly at the bound: queueSize events wait fine, one more is too many', async () => {
    const b = new ContainerEventBroadcaster({ queueSize: 3 });
    const s = b.subscribe();
    for (let i = 0; i < 3; i++) b.publish(ev(i));
    expect(b.subscriberCount).toBe(1);
    expect(await take(s, 3)).toEqual(ids(0, 3));
    for (let i = 3; i < 7; i++) b.publish(ev(i));
    expect(b.subscriberCount).toBe(0);
    await expect(s.next()).rejects.toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
  });

  it('unsubscribes on abort and ends a pending read', async () => {
    const b = new ContainerEventBroadcaster();
    const ac = new AbortController();
    const s = b.subscribe(ac.signal);
    const pending = s.next();
    ac.abort();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(b.subscriberCount).toBe(0);
    b.publish(ev(1));
    expect(await s.next()).toEqual({ value: undefined, done: true });
  });

  it('an already aborted signal gives an ended stream that is never registered', async () => {
    const b = new ContainerEventBroadcaster();
    const s = b.subscribe(AbortSignal.abort());
    expect(b.subscriberCount).toBe(0);
    expect(await s.next()).toEqual({ value: undefined, done: true });
  });

  it('unsubscribes when the consumer stops iterating (for-await break)', async () => {
    const b = new ContainerEventBroadcaster();
    const s = b.subscribe();
    b.publish(ev(1));
    b.publish(ev(2));
    for await (const e of s) {
      expect(e.containerId).toBe('c1');
      break;
    }
    expect(b.subscriberCount).toBe(0);
  });

  it('does not leak: listeners on the signal and subscriptions are released', async () => {
    const b = new ContainerEventBroadcaster({ queueSize: 2 });
    const ac = new AbortController();
    const added = jest.spyOn(ac.signal, 'addEventListener');
    const removed = jest.spyOn(ac.signal, 'removeEventListener');
    for (let round = 0; round < 100; round++) {
      const s = b.subscribe(ac.signal);
      if (round % 3 === 0) await s.return!();
      else if (round % 3 === 1) for (let i = 0; i < 3; i++) b.publish(ev(i)); // overflow
      else {
        const inner = new AbortController();
        b.subscribe(inner.signal);
        inner.abort();
        await s.return!();
      }
    }
    expect(b.subscriberCount).toBe(0);
    expect(removed.mock.calls.length).toBe(added.mock.calls.length);
  });

  it('close() ends every stream and refuses new ones', async () => {
    const b = new ContainerEventBroadcaster();
    const s = b.subscribe();
    const pending = s.next();
    b.close();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(b.subscriberCount).toBe(0);
    const after = b.subscribe();
    expect(await after.next()).toEqual({ value: undefined, done: true });
  });

  it('a slow consumer never slows publish (1000s of events, bounded memory)', async () => {
    const b = new ContainerEventBroadcaster();
    b.subscribe(); // never read
    const fast = b.subscribe();
    const n = DEFAULT_EVENT_QUEUE_SIZE * 5;
    let read = 0;
    const reader = (async () => {
      for await (const _ of fast) if (++read === n) break;
    })();
    for (let i = 0; i < n; i++) {
      b.publish(ev(i));
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    await reader;
    expect(read).toBe(n);
    expect(b.subscriberCount).toBe(0); // the idle one was cut off, the fast one broke out
  });

  it('rejects a nonsensical queue size', () => {
    expect(() => new ContainerEventBroadcaster({ queueSize: 0 })).toThrow(RangeError);
  });
});

describe('getContainerEvents handler', () => {
  function callContext(signal: AbortSignal): CallContext {
    return { signal } as unknown as CallContext;
  }

  it('streams published events until the call is cancelled', async () => {
    const b = new ContainerEventBroadcaster();
    const handler = getContainerEvents(b);
    const ac = new AbortController();
    const stream = handler({}, callContext(ac.signal));
    const first = stream.next(); // starts the generator, which subscribes
    await new Promise((r) => setImmediate(r));
    expect(b.subscriberCount).toBe(1);
    b.publish(ev(1, cri.ContainerEventType.CONTAINER_CREATED_EVENT));
    expect((await first).value).toMatchObject({ containerId: 'c1', containerEventType: cri.ContainerEventType.CONTAINER_CREATED_EVENT });
    const second = stream.next();
    ac.abort();
    expect(await second).toEqual({ value: undefined, done: true });
    expect(b.subscriberCount).toBe(0);
  });

  it('ends with RESOURCE_EXHAUSTED when the client falls behind', async () => {
    const b = new ContainerEventBroadcaster({ queueSize: 2 });
    const stream = getContainerEvents(b)({}, callContext(new AbortController().signal));
    const first = stream.next();
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) b.publish(ev(i));
    expect((await first).value?.containerId).toBe('c0');
    await expect(stream.next()).rejects.toMatchObject({ code: Status.RESOURCE_EXHAUSTED });
  });

  it('nice-grpc return() (client gone) unsubscribes', async () => {
    const b = new ContainerEventBroadcaster();
    const stream = getContainerEvents(b)({}, callContext(new AbortController().signal));
    const first = stream.next();
    await new Promise((r) => setImmediate(r));
    b.publish(ev(1));
    await first;
    await stream.return(undefined);
    expect(b.subscriberCount).toBe(0);
  });
});

describe('GetContainerEvents over gRPC', () => {
  let server: Server;
  let channel: Channel;
  let client: Client<typeof cri.RuntimeServiceDefinition>;
  let broadcaster: ContainerEventBroadcaster;
  const QUEUE = 8;

  beforeAll(async () => {
    broadcaster = new ContainerEventBroadcaster({ queueSize: QUEUE });
    const socket = path.join(tempDir('crisp-ev-'), 'cri.sock');
    server = createServer().use(rpcMiddleware(createLogger('silent')));
    server.add(
      cri.RuntimeServiceDefinition,
      withUnimplemented<cri.RuntimeServiceImplementation>(cri.RuntimeServiceDefinition, { getContainerEvents: getContainerEvents(broadcaster) }),
    );
    await server.listen(`unix://${socket}`);
    channel = createChannel(`unix://${socket}`);
    client = createClient(cri.RuntimeServiceDefinition, channel);
  });

  afterAll(async () => {
    channel.close();
    await server.shutdown();
  });

  async function subscribed(n: number): Promise<void> {
    while (broadcaster.subscriberCount !== n) await new Promise((r) => setTimeout(r, 5));
  }

  it('streams events to a client and unsubscribes when it cancels', async () => {
    const ac = new AbortController();
    const it = client.getContainerEvents({}, { signal: ac.signal })[Symbol.asyncIterator]();
    const first = it.next();
    await subscribed(1);
    broadcaster.publish(ev(1, cri.ContainerEventType.CONTAINER_STOPPED_EVENT));
    broadcaster.publish(ev(2, cri.ContainerEventType.CONTAINER_DELETED_EVENT));
    expect((await first).value).toMatchObject({ containerId: 'c1', containerEventType: cri.ContainerEventType.CONTAINER_STOPPED_EVENT, createdAt: 1n });
    expect((await it.next()).value).toMatchObject({ containerId: 'c2', containerEventType: cri.ContainerEventType.CONTAINER_DELETED_EVENT });
    ac.abort();
    await it.next().catch(() => undefined);
    await subscribed(0);
  });

  it('a client that falls behind gets RESOURCE_EXHAUSTED', async () => {
    const it = client.getContainerEvents({})[Symbol.asyncIterator]();
    const first = it.next();
    await subscribed(1);
    // In one tick: more than the queue holds, before the handler can pull any of it.
    for (let i = 0; i < QUEUE + 2; i++) broadcaster.publish(ev(i));
    const err = await (async () => {
      try {
        await first;
        for (;;) if ((await it.next()).done) return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ClientError);
    expect((err as ClientError).code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(broadcaster.subscriberCount).toBe(0);
  });
});
