// The kernel's own count of OOM kills in a container's memory cgroup: the fallback for an OOM whose
// /tasks/oom event crisp did not see (it was down, or the stream broke in between). The cgroup
// outlives the container's processes until the task is deleted (runc delete removes it), so it is
// still there when the exit is recorded, as a rule.
//   cgroup v1: <root>/memory/<path>/memory.oom_control  line "oom_kill N" (kernel >= 4.13)
//   cgroup v2: <root>/<path>/memory.events              line "oom_kill N"
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * The cgroup directory (relative to the hierarchy's root, starting with '/') of an OCI
 * linux.cgroupsPath: an absolute cgroupfs path as is; runc's systemd form "slice:prefix:name" as
 * systemd lays it out (slice "a-b.slice" → /a.slice/a-b.slice, unit prefix-name.scope). Undefined
 * for what cannot be resolved without runc's own context (relative paths, empty).
 */
export function cgroupDir(cgroupsPath: string | undefined): string | undefined {
  if (!cgroupsPath) return undefined;
  const parts = cgroupsPath.split(':');
  if (parts.length === 3) {
    const [slice, prefix, name] = parts as [string, string, string];
    const unit = name.endsWith('.slice') ? name : `${prefix ? `${prefix}-` : ''}${name}.scope`;
    const sliceDir = expandSlice(slice || 'system.slice');
    if (sliceDir === undefined) return undefined;
    return path.posix.join(sliceDir, unit);
  }
  if (!cgroupsPath.startsWith('/') || cgroupsPath.split('/').includes('..')) return undefined;
  return path.posix.normalize(cgroupsPath);
}

/** systemd's slice nesting: "a-b-c.slice" lives in /a.slice/a-b.slice/a-b-c.slice; "-.slice" is the root. */
export function expandSlice(slice: string): string | undefined {
  if (!slice.endsWith('.slice') || slice.includes('/')) return undefined;
  if (slice === '-.slice') return '/';
  const name = slice.slice(0, -'.slice'.length);
  if (name === '' || name.startsWith('-') || name.endsWith('-') || name.includes('--')) return undefined;
  const words = name.split('-');
  const dirs: string[] = [];
  for (let i = 1; i <= words.length; i++) dirs.push(`${words.slice(0, i).join('-')}.slice`);
  return '/' + dirs.join('/');
}

/** The "oom_kill N" counter of memory.oom_control / memory.events text; undefined when absent. */
export function parseOomKill(text: string): number | undefined {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

let unifiedCache: boolean | undefined;

async function isUnified(root: string): Promise<boolean> {
  if (root === CGROUP_ROOT && unifiedCache !== undefined) return unifiedCache;
  const unified = await fs.access(path.join(root, 'cgroup.controllers')).then(
    () => true,
    () => false,
  );
  if (root === CGROUP_ROOT) unifiedCache = unified;
  return unified;
}

/**
 * How many processes the OOM killer killed in the cgroup of `cgroupsPath`; undefined when that
 * cannot be known (cgroup gone, unreadable, unresolvable path, kernel without the counter).
 */
export async function readOomKillCount(cgroupsPath: string | undefined, root = CGROUP_ROOT): Promise<number | undefined> {
  const dir = cgroupDir(cgroupsPath);
  if (dir === undefined) return undefined;
  const file = (await isUnified(root)) ? path.join(root, dir, 'memory.events') : path.join(root, 'memory', dir, 'memory.oom_control');
  try {
    return parseOomKill(await fs.readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}
