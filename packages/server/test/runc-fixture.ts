// Shared by the tests that run produced specs under real runc: whether runc can run here, busybox
// bundles, crisp's own host facts, and removal of the cgroup parent a test made up.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { detectResourceSupport, readOwnCapabilities } from '../src/oci/host';
import { readOwnOomScoreAdj } from '../src/oci/oom';
import type { ResourceSupport } from '../src/oci/resources';

export const BUSYBOX = '/usr/bin/busybox';

/** Root, runc, `ip` and a static busybox: what these tests need (they are skipped elsewhere). */
export function runcAvailable(): boolean {
  if (process.getuid?.() !== 0 || !existsSync(BUSYBOX)) return false;
  try {
    execFileSync('runc', ['--version'], { stdio: 'ignore' });
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return execFileSync('file', ['-L', BUSYBOX], { encoding: 'utf8' }).includes('statically linked');
  } catch {
    return false;
  }
}

/** `<dir>/<name>` with a rootfs holding busybox and the usual mount points. */
export function busyboxBundle(dir: string, name: string, extraDirs: string[] = []): string {
  const b = path.join(dir, name);
  for (const d of ['bin', 'proc', 'sys', 'dev', 'etc', 'tmp', ...extraDirs]) mkdirSync(path.join(b, 'rootfs', d), { recursive: true });
  copyFileSync(BUSYBOX, path.join(b, 'rootfs', 'bin', 'busybox'));
  return b;
}

/** What the spec builders learn from the host (crisp reads the same at start). */
export async function hostFacts(): Promise<{ ownOomScoreAdj: number; ownCapabilities: string[]; resourceSupport: ResourceSupport }> {
  return { ownOomScoreAdj: await readOwnOomScoreAdj(), ownCapabilities: await readOwnCapabilities(), resourceSupport: await detectResourceSupport() };
}

/** runc removes the containers' cgroups, not the parent a test made up (cgroup v1: one per hierarchy). */
export function removeTestCgroups(tag: string): void {
  const root = '/sys/fs/cgroup';
  for (const p of [path.join(root, tag), ...readdirSync(root).map((h) => path.join(root, h, tag))]) {
    try {
      if (existsSync(p)) rmdirSync(p);
    } catch {
      // best effort
    }
  }
}
