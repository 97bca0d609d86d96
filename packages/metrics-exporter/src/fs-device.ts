// The `device` label of container_fs_usage_bytes: the block device (mount source) of the filesystem
// holding the snapshotter's directory, as cAdvisor names it.
import { promises as fs } from 'node:fs';

/** The mount source of the longest mount point containing `dir`, from /proc/self/mountinfo text. */
export function mountSourceOf(mountinfo: string, dir: string): string | undefined {
  let best: { point: string; source: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 0 || f.length < dash + 3) continue;
    const point = (f[4] ?? '').replace(/\\040/g, ' ');
    const inside = point === '/' || dir === point || dir.startsWith(`${point}/`);
    if (inside && (!best || point.length >= best.point.length)) best = { point, source: f[dash + 2]! };
  }
  return best?.source;
}

/** The device holding `dir`; `dir` itself when mountinfo cannot tell. */
export async function deviceOf(dir: string): Promise<string> {
  try {
    return mountSourceOf(await fs.readFile('/proc/self/mountinfo', 'utf8'), dir) ?? dir;
  } catch {
    return dir;
  }
}

