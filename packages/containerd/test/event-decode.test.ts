import { containerEvents, taskEvents } from '@crisp/api';
import { EVENT_TYPES, EnvelopeCodec, decodeEvent, isKnownEvent, packMessage, timestampToNanos } from '../src';
import type { DecodedEvent, Envelope } from '../src';

// A /tasks/exit envelope as containerd 1.6.20 sent it on Events.Subscribe (container ran `exit 3`).
const REAL_TASK_EXIT_ENVELOPE =
  '0a0c08ccaec6d80610d8a8cae701120670726f6265321a0b2f7461736b732f6578697422510a1a636f6e7461696e6572642e6576656e74732e5461736b4578697412330a0e7431373936333134393536333932120e743137393633313439353633393218cd3820032a0c08ccaec6d8061090adc5e701';

describe('decodeEvent', () => {
  it('decodes a real TaskExit envelope', () => {
    const env = EnvelopeCodec.decode(Buffer.from(REAL_TASK_EXIT_ENVELOPE, 'hex'));
    expect(env.topic).toBe('/tasks/exit');
    expect(env.event?.typeUrl).toBe('containerd.events.TaskExit');
    const decoded = decodeEvent(env);
    expect(decoded.namespace).toBe('probe2');
    expect(timestampToNanos(decoded.timestamp)).toBeGreaterThan(0n);
    if (decoded.topic !== '/tasks/exit' || decoded.event === undefined) throw new Error('not a decoded TaskExit');
    expect(decoded.event).toEqual({
      containerId: 't1796314956392',
      id: 't1796314956392',
      pid: 7245,
      exitStatus: 3,
      exitedAt: { seconds: 1796314956n, nanos: 485578384 },
    });
  });

  it('narrows the payload type by topic once unknown events are excluded', () => {
    const env: Envelope = {
      namespace: 'k8s.io',
      topic: '/tasks/oom',
      timestamp: undefined,
      event: packMessage('containerd.events.TaskOOM', taskEvents.TaskOOM, { containerId: 'abc' }),
    };
    const e: DecodedEvent = decodeEvent(env);
    expect(isKnownEvent(e)).toBe(true);
    if (!isKnownEvent(e)) return;
    switch (e.topic) {
      case '/tasks/oom':
        expect(e.event.containerId).toBe('abc');
        break;
      default:
        throw new Error(`unexpected ${e.topic}`);
    }
  });

  it('decodes container events', () => {
    const env: Envelope = {
      namespace: 'n',
      topic: '/containers/create',
      timestamp: { seconds: 1n, nanos: 0 },
      event: packMessage('containerd.events.ContainerCreate', containerEvents.ContainerCreate, {
        id: 'c1',
        image: 'img',
        runtime: { name: 'io.containerd.runc.v2', options: undefined },
      }),
    };
    expect(decodeEvent(env)).toMatchObject({ topic: '/containers/create', event: { id: 'c1', image: 'img' } });
  });

  it('leaves unknown topics and mismatched payloads undecoded, keeping the raw Any', () => {
    const raw = { typeUrl: 'containerd.events.Something', value: Buffer.from([1, 2]) };
    const unknown = decodeEvent({ namespace: 'n', topic: '/something/else', timestamp: undefined, event: raw });
    expect(unknown).toEqual({ namespace: 'n', topic: '/something/else', timestamp: undefined, event: undefined, raw });
    const mismatched = decodeEvent({ namespace: 'n', topic: '/tasks/exit', timestamp: undefined, event: raw });
    expect(mismatched.event).toBeUndefined();
    const empty = decodeEvent({ namespace: 'n', topic: '/tasks/exit', timestamp: undefined, event: undefined });
    expect(empty.event).toBeUndefined();
    expect(decodeEvent({ namespace: 'n', topic: 'toString', timestamp: undefined, event: raw }).event).toBeUndefined();
  });

  it('knows the type names containerd 1.6 uses, images under their service package', () => {
    expect(EVENT_TYPES['/tasks/exit'].typeName).toBe('containerd.events.TaskExit');
    expect(EVENT_TYPES['/images/create'].typeName).toBe('containerd.services.images.v1.ImageCreate');
    expect(Object.keys(EVENT_TYPES)).toEqual(
      expect.arrayContaining([
        '/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/oom', '/tasks/delete', '/tasks/paused',
        '/tasks/resumed', '/tasks/exec-added', '/tasks/exec-started', '/containers/create',
        '/containers/update', '/containers/delete', '/images/create', '/images/update', '/images/delete',
        '/content/delete', '/snapshot/prepare', '/snapshot/commit', '/snapshot/remove',
      ]),
    );
  });
});
