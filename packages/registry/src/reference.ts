// Image references, parsed and normalized the way docker and containerd do (the grammar of
// github.com/distribution/reference):
//
//   reference  := name [ ":" tag ] [ "@" digest ]
//   name       := [domain "/"] remote-name
//   domain     := host [":" port]           host: DNS name, IPv4 or [IPv6]
//   remote-name:= component ("/" component)*
//   component  := [a-z0-9]+ (separator [a-z0-9]+)*     separator: "." | "_" | "__" | "-"+
//   tag        := [\w][\w.-]{0,127}
//   digest     := algorithm ":" hex
//
// `busybox` → `docker.io/library/busybox:latest`, `user/repo` → `docker.io/user/repo:latest`.
// A reference with both a tag and a digest keeps both; the digest is what gets resolved.
import { isIP } from 'node:net';
import { digestProblem } from './digest';
import { InvalidReferenceError } from './errors';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
/** Where `docker.io` images are actually fetched from. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
export const NAME_TOTAL_LENGTH_MAX = 255;

const ALPHA_NUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = new RegExp(`^${ALPHA_NUMERIC}(?:${SEPARATOR}${ALPHA_NUMERIC})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_AND_PORT = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST_GRAMMAR = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID_HEX = /^[a-f0-9]{64}$/;
const IMAGE_ID = /^(?:sha256:)?[a-f0-9]{64}$/;

export class ImageReference {
  constructor(
    /** Registry host as written in the reference (`docker.io`, `localhost:5000`, `[::1]:5000`). */
    readonly domain: string,
    /** Repository path inside the registry (`library/busybox`). */
    readonly path: string,
    readonly tag?: string,
    readonly digest?: string,
  ) {}

  /** `domain/path`, e.g. `docker.io/library/busybox`. */
  get name(): string {
    return `${this.domain}/${this.path}`;
  }

  /** The host crisp connects to by default for this reference's domain. */
  get registryHost(): string {
    return registryHost(this.domain);
  }

  /** What `/v2/<path>/manifests/<object>` asks for: the digest when there is one, else the tag. */
  get object(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** Normalized form: `docker.io/library/busybox:latest`, `name@sha256:…`, `name:tag@sha256:…`. */
  toString(): string {
    return this.name + (this.tag !== undefined ? `:${this.tag}` : '') + (this.digest !== undefined ? `@${this.digest}` : '');
  }

  /** The short form docker prints: `busybox:latest`, `user/repo:tag`, `quay.io/x/y:tag`. */
  familiar(): string {
    return familiarName(this) + (this.tag !== undefined ? `:${this.tag}` : '') + (this.digest !== undefined ? `@${this.digest}` : '');
  }

  toJSON(): string {
    return this.toString();
  }
}

/** `docker.io/library/busybox` → `busybox`, `docker.io/user/repo` → `user/repo`, others unchanged. */
export function familiarName(ref: { domain: string; path: string }): string {
  if (ref.domain !== DEFAULT_DOMAIN) return `${ref.domain}/${ref.path}`;
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** Splits a name into registry domain and repository path, applying docker's defaults. */
function splitDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const first = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  let path: string;
  if (first === 'localhost' || first.includes('.') || first.includes(':')) {
    [domain, path] = [first, rest];
  } else if (first === LEGACY_DEFAULT_DOMAIN) {
    [domain, path] = [DEFAULT_DOMAIN, rest];
  } else {
    // A Docker Hub namespace (uppercase ones included, so that they are rejected below as such).
    [domain, path] = [DEFAULT_DOMAIN, name];
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return [domain, path];
}

export interface ParseReferenceOptions {
  /** Add `:latest` when the reference has neither tag nor digest (default true). */
  defaultTag?: boolean;
}

/**
 * Parses and normalizes an image reference. Throws InvalidReferenceError with the precise reason.
 * Image IDs (`sha256:<64 hex>` or bare 64 hex) are not references: check `isImageId` first.
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): ImageReference {
  const fail = (reason: string): never => {
    throw new InvalidReferenceError(String(input), reason);
  };
  if (typeof input !== 'string' || input.length === 0) fail('the reference is empty');
  if (/\s/.test(input)) fail('a reference must not contain whitespace');
  if (IMAGE_ID_HEX.test(input)) {
    fail('a repository name cannot be a 64-character hexadecimal string (that is an image ID)');
  }

  let rest = input;
  let digest: string | undefined;
  let tag: string | undefined;

  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest.length === 0) fail('the digest after "@" is empty');
    if (!DIGEST_GRAMMAR.test(digest)) fail(`invalid digest format ${JSON.stringify(digest)}`);
    const problem = digestProblem(digest);
    if (problem !== undefined) fail(problem);
  }

  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag.length === 0) fail('the tag after ":" is empty');
    if (!TAG.test(tag)) {
      fail(
        `invalid tag format ${JSON.stringify(tag)}: a tag is up to 128 characters of [A-Za-z0-9_.-], ` +
          'not starting with "." or "-"',
      );
    }
  }

  if (rest.length === 0) fail('the repository name is empty');
  const [domain, path] = splitDomain(rest);
  if (!DOMAIN_AND_PORT.test(domain)) fail(`invalid registry host ${JSON.stringify(domain)}`);
  if (path.length === 0) fail('the repository name must have at least one path component');
  if (path.toLowerCase() !== path) fail(`repository name ${JSON.stringify(path)} must be lowercase`);
  for (const component of path.split('/')) {
    if (component.length === 0) fail(`repository name ${JSON.stringify(path)} has an empty path component`);
    if (!PATH_COMPONENT.test(component)) {
      fail(
        `invalid repository path component ${JSON.stringify(component)}: components are [a-z0-9] ` +
          'separated by ".", "_", "__" or dashes, and must start and end with a letter or digit',
      );
    }
  }
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    fail(`the repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = DEFAULT_TAG;
  return new ImageReference(domain, path, tag, digest);
}

/** Like parseReference but returns undefined instead of throwing. */
export function tryParseReference(input: string, options?: ParseReferenceOptions): ImageReference | undefined {
  try {
    return parseReference(input, options);
  } catch {
    return undefined;
  }
}

/** `name@digest` (the tag is dropped), e.g. for the digest record of a pulled image. */
export function withDigest(ref: ImageReference | string, digest: string): ImageReference {
  const parsed = typeof ref === 'string' ? parseReference(ref, { defaultTag: false }) : ref;
  const problem = digestProblem(digest);
  if (problem !== undefined) throw new InvalidReferenceError(`${parsed.name}@${digest}`, problem);
  return new ImageReference(parsed.domain, parsed.path, undefined, digest);
}

/** `name:tag` (the digest is dropped). */
export function withTag(ref: ImageReference | string, tag: string): ImageReference {
  const parsed = typeof ref === 'string' ? parseReference(ref, { defaultTag: false }) : ref;
  if (!TAG.test(tag)) throw new InvalidReferenceError(`${parsed.name}:${tag}`, `invalid tag format ${JSON.stringify(tag)}`);
  return new ImageReference(parsed.domain, parsed.path, tag, undefined);
}

/** True for image IDs: `sha256:<64 hex>` or a bare 64-hex string. */
export function isImageId(value: string): boolean {
  return IMAGE_ID.test(value);
}

/** `sha256:<hex>` for an image ID given with or without its algorithm prefix. */
export function normalizeImageId(value: string): string {
  if (!isImageId(value)) throw new InvalidReferenceError(value, 'not an image ID (sha256:<64 hex>)');
  return value.startsWith('sha256:') ? value : `sha256:${value}`;
}

/** The host to connect to for a reference domain: `docker.io` is served by `registry-1.docker.io`. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN || domain === LEGACY_DEFAULT_DOMAIN ? DOCKER_HUB_REGISTRY : domain;
}

/** Splits `host[:port]` (IPv6 in brackets) into host and port. */
export function splitHostPort(hostPort: string): { host: string; port?: string } {
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    if (end > 0) {
      const host = hostPort.slice(1, end);
      const rest = hostPort.slice(end + 1);
      return rest.startsWith(':') ? { host, port: rest.slice(1) } : { host };
    }
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon > 0 && hostPort.indexOf(':') === colon) {
    return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
  }
  return { host: hostPort };
}

/** `localhost`, 127.0.0.0/8 and ::1 (with or without a port), as containerd's IsLocalhost. */
export function isLocalhost(hostPort: string): boolean {
  const { host } = splitHostPort(hostPort);
  const lower = host.toLowerCase();
  if (lower === 'localhost') return true;
  const family = isIP(lower);
  if (family === 4) return lower.startsWith('127.');
  if (family === 6) {
    if (lower === '::1' || /^(?:0{1,4}:){7}0{0,3}1$/.test(lower) || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/** Same registry host, treating docker.io, index.docker.io and registry-1.docker.io as one. */
export function sameRegistryHost(a: string, b: string): boolean {
  const canonical = (h: string): string => {
    const lower = h.toLowerCase().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    return lower === DEFAULT_DOMAIN || lower === LEGACY_DEFAULT_DOMAIN || lower === DOCKER_HUB_REGISTRY
      ? DEFAULT_DOMAIN
      : lower;
  };
  return canonical(a) === canonical(b);
}
