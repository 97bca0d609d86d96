import { LeasePool, LeasePoolOptions } from '../src/lease-pool';

/** The two Leases calls the pool makes, kept in memory, with a switch to make create fail. */
class FakeLeases {
  readonly live = new Map<string, Record<string, string>>();
  readonly deleted: string[] = [];
  creates = 0;
  failCreate = false;

  readonly client: LeasePoolOptions['leases'] = {
    create: (async (req: { id: string; labels: Record<string, string> }, opts?: { signal?: AbortSignal }) => {
      this.creates++;
      await Promise.resolve();
      if (opts?.signal?.aborted) throw new Error('aborted');
      if (this.failCreate) throw new Error('containerd unavailable');
      this.live.set(req.id, req.labels);
      return { lease: { id: req.id, labels: req.labels, createdAt: undefined } };
    }) as never,
    delete: (async (req: { id: string }) => {
      await Promise.resolve();
      this.live.delete(req.id);
      this.deleted.push(req.id);
      return {};
    }) as never,
  };
}

function setup(extra: Partial<LeasePoolOptions> = {}) {
  const fake = new FakeLeases();
  let now = 1_000_000;
  const errors: unknown[] = [];
  const pool = new LeasePool({
    leases: fake.client,
    idPrefix: 'test-',
    labels: (ttlMs) => ({ ttl: String(ttlMs) }),
    holdMs: 60_000,
    maxIdleMs: 10_000,
    now: () => now,
    onError: (err) => errors.push(err),
    ...extra,
  });
  return { fake, pool, errors, advance: (ms: number) => (now += ms) };
}

describe('LeasePool', () => {
  it('makes the first lease on the way, with the hold time as its expiry, then keeps spares', async () => {
    const { fake, pool } = setup();
    const id = await pool.take();
    expect(fake.live.get(id)).toEqual({ ttl: '60000' });
    await pool.settled();
    expect(pool.ready).toBe(2);
    // Spares outlive their idle time plus a full hold.
    for (const [other, labels] of fake.live) if (other !== id) expect(labels).toEqual({ ttl: '70000' });
  });

  it('hands out spares without a create on the way, and refills behind them', async () => {
    const { fake, pool } = setup();
    await pool.take();
    await pool.settled();
    const before = fake.creates;
    const id = await pool.take();
    // take() resolved from the spare; the one create since is the refill, started after it.
    expect(fake.live.has(id)).toBe(true);
    await pool.settled();
    expect(fake.creates).toBe(before + 1);
    expect(pool.ready).toBe(2);
  });

  it('never hands out the same lease twice', async () => {
    const { pool } = setup({ spares: 3 });
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      ids.add(await pool.take());
      if (i % 3 === 0) await pool.settled();
    }
    expect(ids.size).toBe(20);
  });

  it('replaces a spare that waited longer than maxIdleMs instead of handing it out', async () => {
    const { fake, pool, advance } = setup({ spares: 1 });
    const held = await pool.take();
    await pool.settled();
    const stale = [...fake.live.keys()].find((k) => k !== held);
    advance(10_001);
    const id = await pool.take();
    expect(id).not.toBe(stale);
    expect(fake.live.get(id)).toEqual({ ttl: '60000' });
    await pool.settled();
    await Promise.resolve();
    expect(fake.deleted).toContain(stale);
  });

  it('makes the lease itself when containerd refuses spares, and reports the refill error', async () => {
    const { fake, pool, errors } = setup();
    fake.failCreate = true;
    await expect(pool.take()).rejects.toThrow('containerd unavailable');
    await pool.settled();
    expect(errors).toHaveLength(1);
    fake.failCreate = false;
    const id = await pool.take();
    expect(fake.live.has(id)).toBe(true);
  });

  it('release deletes the lease without a synchronous GC', async () => {
    const { fake, pool } = setup();
    const calls: unknown[] = [];
    const del = fake.client.delete;
    (fake.client as { delete: unknown }).delete = (req: unknown) => {
      calls.push(req);
      return del(req as never);
    };
    const id = await pool.take();
    await pool.release(id);
    expect(fake.live.has(id)).toBe(false);
    expect(calls).toEqual([{ id, sync: false }]);
  });

  it('close deletes the spares and stops refilling', async () => {
    const { fake, pool } = setup();
    const held = await pool.take();
    await pool.close();
    expect([...fake.live.keys()]).toEqual([held]);
    const creates = fake.creates;
    await pool.take();
    await pool.settled();
    expect(fake.creates).toBe(creates + 1);
    expect(pool.ready).toBe(0);
  });

  it('close cancels a refill that containerd does not answer', async () => {
    const { fake, pool, errors } = setup({ spares: 1 });
    await pool.take();
    await pool.settled();
    // From now on containerd takes creates and never answers, until the caller gives up.
    (fake.client as { create: unknown }).create = (_req: unknown, opts?: { signal?: AbortSignal }) =>
      new Promise((_, reject) => {
        fake.creates++;
        opts?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      });
    const creates = fake.creates;
    await pool.take(); // the spare; its refill now hangs
    expect(fake.creates).toBe(creates + 1);
    await pool.close();
    expect(pool.ready).toBe(0);
    expect(errors).toEqual([]);
  });

  it('passes the caller signal to a lease made on the way', async () => {
    const { pool } = setup();
    const ac = new AbortController();
    ac.abort();
    await expect(pool.take(ac.signal)).rejects.toThrow('aborted');
  });
});
