// A pod's containers share one /dev/shm (they share an IPC namespace): a tmpfs crisp mounts in the
// sandbox's state dir, as the peers do. Node cannot mount, so `mount`/`umount` run once per pod.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { sandboxDir } from './files';

const run = promisify(execFile);
/** Docker's and the peers' default /dev/shm size. */
export const SHM_SIZE = '65536k';

export function shmPath(stateDir: string, id: string): string {
  return path.join(sandboxDir(stateDir, id), 'shm');
}

export async function mountShm(target: string): Promise<void> {
  await fs.mkdir(target, { recursive: true, mode: 0o700 });
  await run('mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,mode=1777,size=${SHM_SIZE}`, 'shm', target], { timeout: 10_000 });
}

/** Idempotent: an unmounted or missing path is fine. */
export async function unmountShm(target: string): Promise<void> {
  try {
    await run('umount', ['-l', target], { timeout: 10_000 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '');
    if (!/not mounted|no mount point|No such file/.test(stderr)) throw err;
  }
}
