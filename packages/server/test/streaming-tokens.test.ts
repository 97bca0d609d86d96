import { TokenCache, TokenCacheFullError } from '../src/streaming/tokens';

describe('streaming TokenCache', () => {
  let now = 1_000_000;
  const cache = (maxTokens?: number) => new TokenCache<string>({ ttlMs: 60_000, now: () => now, ...(maxTokens ? { maxTokens } : {}) });

  beforeEach(() => {
    now = 1_000_000;
  });

  it('mints unguessable URL-safe tokens, a fresh one each time', () => {
    const c = cache();
    const tokens = new Set(Array.from({ length: 200 }, () => c.put('exec', 'x')));
    expect(tokens.size).toBe(200);
    for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('hands a value out once', () => {
    const c = cache();
    const t = c.put('exec', 'request');
    expect(c.take('exec', t)).toBe('request');
    expect(c.take('exec', t)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('refuses a token of another kind, and spends it', () => {
    const c = cache();
    const t = c.put('attach', 'request');
    expect(c.take('exec', t)).toBeUndefined();
    expect(c.take('attach', t)).toBeUndefined();
  });

  it('refuses an expired token', () => {
    const c = cache();
    const t = c.put('exec', 'request');
    now += 59_999;
    const u = c.put('exec', 'later');
    now += 1;
    expect(c.take('exec', t)).toBeUndefined();
    expect(c.take('exec', u)).toBe('later');
  });

  it('refuses unknown and malformed tokens', () => {
    const c = cache();
    c.put('exec', 'request');
    expect(c.take('exec', 'A'.repeat(43))).toBeUndefined();
    expect(c.take('exec', '../../etc')).toBeUndefined();
    expect(c.take('exec', '')).toBeUndefined();
    expect(c.size).toBe(1);
  });

  it('is bounded, and expired tokens make room', () => {
    const c = cache(3);
    for (let i = 0; i < 3; i++) c.put('exec', String(i));
    expect(() => c.put('exec', 'one too many')).toThrow(TokenCacheFullError);
    now += 60_000;
    expect(() => c.put('exec', 'after expiry')).not.toThrow();
    expect(c.size).toBe(1);
  });

  it('rejects a non-positive TTL', () => {
    expect(() => new TokenCache({ ttlMs: 0 })).toThrow(RangeError);
  });
});
