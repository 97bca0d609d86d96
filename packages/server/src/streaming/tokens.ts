// Single-use tokens for the streaming server's URLs. The Exec/Attach/PortForward RPCs validate the
// request and store what the session needs under a fresh token; the URL carries only the token, so
// it must be unguessable, used once and short-lived (anyone who can reach the port and knows the
// token gets a shell in the container).
import { randomBytes } from 'node:crypto';

export type StreamKind = 'exec' | 'attach' | 'portforward';

/** Default bound on tokens waiting to be used (kubelet's streaming server allows as many in flight). */
export const DEFAULT_MAX_TOKENS = 1000;
/** 256 bits from the CSPRNG, URL-safe. */
const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class TokenCacheFullError extends Error {
  constructor(max: number) {
    super(`too many streaming sessions waiting to be opened (${max})`);
    this.name = 'TokenCacheFullError';
  }
}

interface Entry<T> {
  kind: StreamKind;
  value: T;
  expiresAt: number;
}

export interface TokenCacheOptions {
  ttlMs: number;
  maxTokens?: number;
  /** Milliseconds clock; tests inject one. */
  now?: () => number;
}

export class TokenCache<T> {
  /** Insertion order is expiry order (one TTL for all), so the oldest entries come first. */
  private readonly entries = new Map<string, Entry<T>>();
  private readonly ttlMs: number;
  private readonly maxTokens: number;
  private readonly now: () => number;

  constructor(opts: TokenCacheOptions) {
    if (!(opts.ttlMs > 0)) throw new RangeError(`token TTL must be positive, got ${opts.ttlMs}`);
    this.ttlMs = opts.ttlMs;
    this.maxTokens = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Stores `value` for one use within the TTL; throws TokenCacheFullError when the bound is reached. */
  put(kind: StreamKind, value: T): string {
    this.evictExpired();
    if (this.entries.size >= this.maxTokens) throw new TokenCacheFullError(this.maxTokens);
    let token: string;
    do token = randomBytes(TOKEN_BYTES).toString('base64url');
    while (this.entries.has(token));
    this.entries.set(token, { kind, value, expiresAt: this.now() + this.ttlMs });
    return token;
  }

  /**
   * Takes the value stored under `token` for `kind`: undefined if unknown, expired, already taken
   * or minted for another kind. A token is gone after any attempt to take it.
   */
  take(kind: StreamKind, token: string): T | undefined {
    if (!TOKEN_PATTERN.test(token)) return undefined;
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    if (entry.kind !== kind || entry.expiresAt <= this.now()) return undefined;
    return entry.value;
  }

  clear(): void {
    this.entries.clear();
  }

  private evictExpired(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(token);
    }
  }
}
