import { ContainerdError } from '@crisp/containerd';
import { Status } from 'nice-grpc-common';
import { WritableLayerUsage } from '../src/layer-usage';

describe('WritableLayerUsage', () => {
  function setup(ttlMs = 10_000, concurrency = 2) {
    let now = 1_000_000;
    let inFlight = 0;
    let maxInFlight = 0;
    const calls: string[] = [];
    const errors: string[] = [];
    const release: (() => void)[] = [];
    let hold = false;
    const usage = new WritableLayerUsage(
      async (key) => {
        calls.push(key);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          if (hold) await new Promise<void>((r) => release.push(r));
          else await new Promise((r) => setImmediate(r));
          if (key === 'gone') throw new ContainerdError('/containerd.services.snapshots.v1.Snapshots/Usage', Status.NOT_FOUND, 'snapshot gone not found');
          if (key === 'broken') throw new Error('boom');
          return { size: BigInt(key.length) * 1000n, inodes: 3n };
        } finally {
          inFlight--;
        }
      },
      ttlMs,
      concurrency,
      () => now,
      (id) => errors.push(id),
    );
    return {
      usage,
      calls,
      errors,
      maxInFlight: () => maxInFlight,
      advance: (ms: number) => (now += ms),
      hold: (v: boolean) => (hold = v),
      releaseAll: () => release.splice(0).forEach((r) => r()),
      pending: () => release.length,
    };
  }

  it('walks at most `concurrency` layers at once and answers bytes, inodes and when', async () => {
    const t = setup();
    const ids = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
    const got = await t.usage.get(ids);
    expect([...got.keys()].sort()).toEqual(ids);
    expect(got.get('ccc')).toEqual({ bytes: 3000n, inodes: 3n, timestamp: 1_000_000n * 1_000_000n });
    expect(t.maxInFlight()).toBe(2);
  });

  it('reuses an answer for the TTL, then walks again', async () => {
    const t = setup();
    await t.usage.get(['a']);
    t.advance(9_999);
    await t.usage.get(['a']);
    expect(t.calls).toEqual(['a']);
    t.advance(1);
    await t.usage.get(['a']);
    expect(t.calls).toEqual(['a', 'a']);
  });

  it('answers an old figure at once and refreshes it in the background for the next call', async () => {
    const t = setup();
    await t.usage.get(['a']);
    t.advance(10_000);
    t.hold(true);
    const stale = await t.usage.get(['a']);
    expect(stale.get('a')?.timestamp).toBe(1_000_000n * 1_000_000n);
    expect(t.calls).toEqual(['a', 'a']);
    // A second call while the refresh runs shares it rather than walking again.
    await t.usage.get(['a']);
    expect(t.calls).toEqual(['a', 'a']);
    t.releaseAll();
    await new Promise((r) => setImmediate(r));
    expect((await t.usage.get(['a'])).get('a')?.timestamp).toBe(1_010_000n * 1_000_000n);
    expect(t.calls).toEqual(['a', 'a']);
  });

  it('keeps to `concurrency` walks across concurrent calls', async () => {
    const t = setup();
    t.hold(true);
    const calls = [t.usage.get(['a', 'b']), t.usage.get(['c', 'd']), t.usage.get(['e'])];
    await new Promise((r) => setImmediate(r));
    expect(t.calls.length).toBe(2);
    while (t.calls.length < 5 || t.pending() > 0) {
      t.releaseAll();
      await new Promise((r) => setImmediate(r));
    }
    expect((await Promise.all(calls)).map((m) => m.size)).toEqual([2, 2, 1]);
    expect(t.maxInFlight()).toBe(2);
  });

  it('shares a walk in flight between concurrent callers', async () => {
    const t = setup();
    t.hold(true);
    const first = t.usage.get(['a', 'b']);
    const second = t.usage.get(['b']);
    await new Promise((r) => setImmediate(r));
    t.releaseAll();
    const [x, y] = await Promise.all([first, second]);
    expect(t.calls.sort()).toEqual(['a', 'b']);
    expect(x.get('b')).toEqual(y.get('b'));
  });

  it('leaves out layers that are gone (quietly) or failed (reported), keeping the last good figure', async () => {
    const t = setup();
    const got = await t.usage.get(['gone', 'broken', 'ok']);
    expect([...got.keys()]).toEqual(['ok']);
    expect(t.errors).toEqual(['broken']);
    expect(t.usage.size).toBe(1);
  });

  it('is bounded by the live containers', async () => {
    const t = setup();
    await t.usage.get(['a', 'b', 'c']);
    t.usage.retain(new Set(['c']));
    expect(t.usage.size).toBe(1);
  });
});
