// OCI platforms: the node's own, normalization as containerd's `platforms` package does it, and
// choosing the best manifest of an index / manifest list for a platform.
import { endianness } from 'node:os';
import { NoMatchingPlatformError } from './errors';
import type { Descriptor, ImageIndex } from './manifest';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

/** Node's `process.arch` → OCI architecture. */
export function ociArchitecture(nodeArch: string = process.arch): string {
  switch (nodeArch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'ppc64':
      return endianness() === 'LE' ? 'ppc64le' : 'ppc64';
    case 'mipsel':
      return 'mipsle';
    default:
      return nodeArch; // arm64, arm, s390x, riscv64, loong64, mips, …
  }
}

/** The platform of this node: `linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`, … */
export function currentPlatform(): Platform {
  const architecture = ociArchitecture();
  const platform: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture };
  if (architecture === 'arm64') platform.variant = 'v8';
  if (architecture === 'arm') {
    const variables = process.config.variables as unknown as Record<string, unknown>;
    const version = Number(variables['arm_version']);
    platform.variant = Number.isInteger(version) && version >= 5 ? `v${version}` : 'v7';
  }
  return platform;
}

/** Canonical os/architecture/variant (aarch64 → arm64, x86_64 → amd64, arm64/v8 → arm64, arm → arm/v7). */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8') variant = '';
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  const out: Platform = { os, architecture };
  if (variant !== '') out.variant = variant;
  return out;
}

/** `linux/arm64/v8`, `linux/amd64`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/** Parses `os/arch[/variant]` (or `arch` alone, meaning this node's OS). */
export function parsePlatform(spec: string): Platform {
  const parts = spec.split('/');
  if (parts.some((p) => p === '') || parts.length > 3) throw new Error(`invalid platform ${JSON.stringify(spec)}`);
  if (parts.length === 1) return { os: currentPlatform().os, architecture: parts[0]! };
  const platform: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) platform.variant = parts[2];
  return platform;
}

/**
 * The platforms a node of `platform` can run, best first (containerd's `platforms.Only`):
 * amd64/vN → amd64/vN-1 … → 386; arm/vN → arm/vN-1 … v5; arm64 → arm/v8 … arm/v5.
 */
export function compatiblePlatforms(platform: Platform): Platform[] {
  const p = normalizePlatform(platform);
  const out: Platform[] = [p];
  const withVariant = (architecture: string, variant: string): Platform => {
    const q: Platform = { os: p.os, architecture };
    if (variant !== '') q.variant = variant;
    return q;
  };
  switch (p.architecture) {
    case 'amd64': {
      const v = Number((p.variant ?? 'v1').slice(1));
      for (let i = v - 1; i >= 1; i--) out.push(withVariant('amd64', i === 1 ? '' : `v${i}`));
      out.push(withVariant('386', ''));
      break;
    }
    case 'arm': {
      const v = Number((p.variant ?? 'v7').slice(1));
      for (let i = v - 1; i >= 5; i--) out.push(withVariant('arm', `v${i}`));
      break;
    }
    case 'arm64':
      for (let i = 8; i >= 5; i--) out.push(withVariant('arm', `v${i}`));
      break;
  }
  return out;
}

function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/** Rank of `candidate` for a node of `platform` (0 = exact), or -1 when it cannot run there. */
export function platformRank(platform: Platform, candidate: Platform): number {
  const c = normalizePlatform(candidate);
  return compatiblePlatforms(platform).findIndex((p) => samePlatform(p, c));
}

/**
 * The manifest of an index / manifest list to use on `platform` (default: this node): the entry
 * with the best compatible platform, the first one on ties; entries without a platform are a last
 * resort (as containerd treats them). Throws NoMatchingPlatformError listing what is available.
 */
export function selectPlatform(index: ImageIndex, platform: Platform = currentPlatform(), where?: string): Descriptor {
  let best: Descriptor | undefined;
  let bestRank = Number.POSITIVE_INFINITY;
  let unplatformed: Descriptor | undefined;
  for (const desc of index.manifests) {
    if (desc.platform === undefined) {
      unplatformed ??= desc;
      continue;
    }
    const rank = platformRank(platform, desc.platform);
    if (rank >= 0 && rank < bestRank) {
      best = desc;
      bestRank = rank;
    }
  }
  const chosen = best ?? unplatformed;
  if (chosen !== undefined) return chosen;
  const available = index.manifests
    .filter((d) => d.platform !== undefined && d.platform.os !== 'unknown')
    .map((d) => formatPlatform(d.platform!));
  throw new NoMatchingPlatformError(formatPlatform(platform), [...new Set(available)], where);
}
