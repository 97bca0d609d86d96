// Registry authentication: credentials from the CRI AuthConfig, WWW-Authenticate challenges, the
// Docker/OCI bearer token flow (GET realm?service&scope, or the OAuth2 refresh-token POST), Basic,
// and a token cache per (realm, service, repository scope, credentials).
import { createHash } from 'node:crypto';
import { abortErrorFrom, RegistryError, RegistryUnavailableError, UnauthorizedError } from './errors';
import type { EndpointTls } from './hosts';
import type { Logger } from './logger';
import { sameRegistryHost } from './reference';
import { registryErrorMessage } from './transport';

/** The CRI `AuthConfig` (all fields optional; empty strings mean absent). */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64 of `username:password`. */
  auth?: string;
  /** Registry the credentials are for; when set, they are only sent to that host. */
  serverAddress?: string;
  /** OAuth2 refresh token, exchanged at the token realm (grant_type=refresh_token). */
  identityToken?: string;
  /** A bearer token sent to the registry as is. */
  registryToken?: string;
}

export type Credentials =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'identityToken'; token: string; username?: string }
  | { kind: 'registryToken'; token: string };

/** Precedence: registryToken, identityToken, username/password, auth. Undefined when anonymous. */
export function credentialsFromAuthConfig(auth: AuthConfig | undefined): Credentials | undefined {
  if (auth === undefined || auth === null) return undefined;
  if (auth.registryToken) return { kind: 'registryToken', token: auth.registryToken };
  if (auth.identityToken) {
    return auth.username ? { kind: 'identityToken', token: auth.identityToken, username: auth.username } : { kind: 'identityToken', token: auth.identityToken };
  }
  if (auth.username) return { kind: 'basic', username: auth.username, password: auth.password ?? '' };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new RegistryError('invalid auth in AuthConfig: expected base64 of "username:password"');
    return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

/**
 * Whether credentials may be sent to `host` (an endpoint's host[:port]). As containerd's CRI
 * plugin: when `serverAddress` is set, only to that host (docker.io, index.docker.io and
 * registry-1.docker.io count as one); otherwise to every endpoint of the image's registry.
 */
export function credentialsApplyTo(auth: AuthConfig | undefined, host: string): boolean {
  if (!auth?.serverAddress) return true;
  return sameRegistryHost(auth.serverAddress, host);
}

export interface Challenge {
  /** Lowercase scheme: `bearer`, `basic`, … */
  scheme: string;
  /** Parameters with lowercase names: realm, service, scope, error, … */
  params: Record<string, string>;
}

/** Parses WWW-Authenticate values (RFC 7235), several challenges per header allowed. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) {
    let i = 0;
    let current: Challenge | undefined;
    const skipSpace = (): void => {
      while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
    };
    while (i < value.length) {
      skipSpace();
      if (value[i] === ',') {
        i++;
        continue;
      }
      const tokenMatch = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(value.slice(i));
      if (tokenMatch === null) break;
      const token = tokenMatch[0];
      i += token.length;
      skipSpace();
      if (value[i] === '=' && current !== undefined) {
        // auth-param: token = ( token / quoted-string )
        i++;
        skipSpace();
        let paramValue = '';
        if (value[i] === '"') {
          i++;
          while (i < value.length && value[i] !== '"') {
            if (value[i] === '\\' && i + 1 < value.length) i++;
            paramValue += value[i];
            i++;
          }
          i++;
        } else {
          const m = /^[^,\s]*/.exec(value.slice(i));
          paramValue = m === null ? '' : m[0];
          i += paramValue.length;
        }
        current.params[token.toLowerCase()] = paramValue;
      } else {
        // a token not followed by "=" starts the next challenge
        current = { scheme: token.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}

/** `repository:<path>:pull`. */
export function pullScope(repositoryPath: string): string {
  return `repository:${repositoryPath}:pull`;
}

export interface TokenResponse {
  status: number;
  body: Buffer;
}

/**
 * Performs the HTTP exchange with a token realm (retries, timeouts and TLS are the caller's
 * business). It gets no AbortSignal: one token fetch serves every concurrent waiter.
 */
export type TokenRequester = (request: TokenRequest) => Promise<TokenResponse>;

export interface TokenRequest {
  url: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  /** TLS settings of the registry endpoint that sent the challenge (its CA usually signs the realm too). */
  tls?: EndpointTls;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface AuthenticatorOptions {
  logger?: Logger;
  /** Clock, for tests. */
  now?: () => number;
  /** Token cache entries kept at most (default 512). */
  maxCachedTokens?: number;
  /** OAuth2 client_id sent with refresh-token requests (default `crisp`). */
  clientId?: string;
}

/** `promise`, or an AbortError as soon as `signal` fires. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortErrorFrom(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortErrorFrom(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function fingerprint(creds: Credentials | undefined): string {
  if (creds === undefined) return 'anonymous';
  return createHash('sha256').update(JSON.stringify(creds)).digest('hex').slice(0, 32);
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * Decides the Authorization header of registry requests. Remembers the challenge each registry
 * origin gave (so later requests authenticate up front instead of collecting a 401 each), and
 * caches bearer tokens per (realm, service, scope, credentials fingerprint) until shortly before
 * they expire. Tokens fetched with one pod's pull secret are never used for another's.
 */
export class Authenticator {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();
  private readonly logger?: Logger;
  private readonly now: () => number;
  private readonly maxCachedTokens: number;
  private readonly clientId: string;

  constructor(
    private readonly requester: TokenRequester,
    options: AuthenticatorOptions = {},
  ) {
    if (options.logger !== undefined) this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.maxCachedTokens = options.maxCachedTokens ?? 512;
    this.clientId = options.clientId ?? 'crisp';
  }

  /** The Authorization header to send up front to `origin` for `scope`, if one is known. */
  async authorize(
    origin: string,
    scope: string,
    creds: Credentials | undefined,
    signal?: AbortSignal,
    tls?: EndpointTls,
  ): Promise<string | undefined> {
    const challenge = this.challenges.get(origin);
    if (challenge === undefined) return undefined;
    return this.headerFor(challenge, scope, creds, signal, false, tls);
  }

  /**
   * Answers a 401 from `origin`: remembers its challenge and returns the header to retry with, or
   * undefined when there is no way to authenticate (no usable challenge or credentials).
   * `rejected` is the Authorization that was refused, whose cached token is dropped.
   */
  async challenge(
    origin: string,
    wwwAuthenticate: string | string[] | undefined,
    scope: string,
    creds: Credentials | undefined,
    signal: AbortSignal | undefined,
    rejected: string | undefined,
    tls?: EndpointTls,
  ): Promise<string | undefined> {
    const challenges = parseChallenges(wwwAuthenticate);
    const chosen = challenges.find((c) => c.scheme === 'bearer' && c.params['realm']) ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen === undefined) return undefined;
    this.challenges.set(origin, chosen);
    if (rejected !== undefined) this.logger?.debug({ origin, scheme: chosen.scheme, error: chosen.params['error'] }, 'registry refused the credentials sent, authenticating again');
    return this.headerFor(chosen, scope, creds, signal, rejected !== undefined, tls);
  }

  /** Forgets remembered challenges and tokens. */
  clear(): void {
    this.challenges.clear();
    this.tokens.clear();
  }

  private async headerFor(
    challenge: Challenge,
    scope: string,
    creds: Credentials | undefined,
    signal: AbortSignal | undefined,
    refresh: boolean,
    tls: EndpointTls | undefined,
  ): Promise<string | undefined> {
    if (challenge.scheme === 'basic') {
      return creds?.kind === 'basic' ? basicHeader(creds.username, creds.password) : undefined;
    }
    if (creds?.kind === 'registryToken') return `Bearer ${creds.token}`;
    const realm = challenge.params['realm']!;
    const service = challenge.params['service'] ?? '';
    const key = JSON.stringify([realm, service, scope, fingerprint(creds)]);
    if (refresh) this.tokens.delete(key);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.now()) return `Bearer ${cached.token}`;
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      // Shared by concurrent requests, so not tied to one caller's signal (each waits on its own).
      const scopes = new Set([scope, ...(challenge.params['scope'] ?? '').split(' ').filter((s) => s !== '')]);
      pending = this.fetchToken(realm, service, [...scopes].sort(), creds, tls);
      this.inflight.set(key, pending);
      pending
        .then(
          (token) => this.store(key, token),
          () => undefined,
        )
        .finally(() => this.inflight.delete(key));
    }
    const token = await untilAborted(pending, signal);
    return `Bearer ${token.token}`;
  }

  private store(key: string, token: CachedToken): void {
    const now = this.now();
    if (this.tokens.size >= this.maxCachedTokens) {
      for (const [k, v] of this.tokens) if (v.expiresAt <= now) this.tokens.delete(k);
      while (this.tokens.size >= this.maxCachedTokens) this.tokens.delete(this.tokens.keys().next().value as string);
    }
    this.tokens.set(key, token);
  }

  private async fetchToken(
    realm: string,
    service: string,
    scopes: string[],
    creds: Credentials | undefined,
    tls: EndpointTls | undefined,
  ): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UnauthorizedError(`the registry's token realm ${JSON.stringify(realm)} is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UnauthorizedError(`the registry's token realm ${JSON.stringify(realm)} is not an http(s) URL`);
    }
    const started = this.now();
    let response: TokenResponse;
    if (creds?.kind === 'identityToken') {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.token, client_id: this.clientId });
      if (service !== '') form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      const request: TokenRequest = { url, method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() };
      if (tls !== undefined) request.tls = tls;
      response = await this.requester(request);
    } else {
      if (service !== '') url.searchParams.set('service', service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds?.kind === 'basic') {
        url.searchParams.set('account', creds.username);
        headers['Authorization'] = basicHeader(creds.username, creds.password);
      }
      const request: TokenRequest = { url, method: 'GET', headers };
      if (tls !== undefined) request.tls = tls;
      response = await this.requester(request);
    }
    const where = `${url.origin}${url.pathname}`;
    if (response.status !== 200) {
      const detail = registryErrorMessage(response.body.toString('utf8'));
      const message = `failed to fetch an authorization token from ${where}: HTTP ${response.status}${detail ? `: ${detail}` : ''}`;
      if (response.status === 429 || response.status >= 500) throw new RegistryUnavailableError(message, { status: response.status });
      throw new UnauthorizedError(message, detail === undefined ? { status: response.status } : { status: response.status, registryMessage: detail });
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new UnauthorizedError(`the token response from ${where} is not JSON`);
    }
    const token = typeof json['token'] === 'string' && json['token'] !== '' ? json['token'] : json['access_token'];
    if (typeof token !== 'string' || token === '') throw new UnauthorizedError(`the token response from ${where} has no token`);
    const expiresIn = typeof json['expires_in'] === 'number' && json['expires_in'] > 0 ? json['expires_in'] : 60;
    // The expiry counts from when the request was sent (not the server's issued_at: clocks differ),
    // less a margin so that a token does not expire between being chosen and being checked.
    const lifetime = expiresIn * 1000;
    const expiresAt = started + lifetime - Math.min(30_000, lifetime / 10);
    this.logger?.debug({ realm: where, service, scopes, expiresIn, kind: creds?.kind ?? 'anonymous' }, 'fetched registry token');
    return { token, expiresAt };
  }
}
