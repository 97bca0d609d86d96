// Last-resort clean-up of what pods leave on the host when their runtime could not tear them down
// (e.g. crisp died or hung mid-bench): network namespaces holding an address this run's IPAM handed
// out, and mounts (the pods' /dev/shm) under crisp's dir. Runs after crisp and containerd are stopped
// (their pause processes killed), before the bridge is deleted. Whatever it removes is a failure of
// the runtime's own clean-up, and is reported as such. Also the lock that keeps two runs apart: they
// would share the bridge and the subnet, and one's clean-up would tear down the other's pods.
import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { unmountUnder } from '@crisp/server';
import { runCommand } from '../proc';

const NETNS_DIR = '/var/run/netns';

export function listNetns(): Set<string> {
  try {
    return new Set(readdirSync(NETNS_DIR));
  } catch {
    return new Set();
  }
}

export interface SweepOptions {
  /** Namespaces that existed before the bench started: never touched (other runs' or tests'). */
  netnsBefore: Set<string>;
  /** Addresses this run's IPAM handed out (see allocatedAddresses): only namespaces holding one go. */
  ownAddresses: Set<string>;
  /** Dirs whose mounts are unmounted (crisp's dir). */
  mountRoots: string[];
}

/** Removes the leftovers; returns one line per thing removed (empty when the runtimes cleaned up). */
export async function sweepHost(opts: SweepOptions): Promise<string[]> {
  const removed: string[] = [];
  for (const name of listNetns()) {
    if (opts.netnsBefore.has(name)) continue;
    const res = await runCommand('ip', ['-n', name, '-4', '-o', 'addr', 'show']);
    const addr = res.stdout.split('\n').map((l) => /\binet (\S+)/.exec(l)?.[1]).find((a) => a !== undefined && opts.ownAddresses.has(a.split('/')[0]!));
    if (!addr) continue;
    const del = await runCommand('ip', ['netns', 'delete', name]);
    removed.push(del.code === 0 ? `netns ${name} (${addr})` : `netns ${name} (${addr}): could not delete: ${del.stderr.trim()}`);
  }
  for (const mp of await unmountUnder(opts.mountRoots)) removed.push(`mount ${mp}`);
  return removed;
}

/** The addresses the host-local IPAM with `dataDir` still holds for `network` (one file per address). */
export function allocatedAddresses(dataDir: string, network: string): Set<string> {
  try {
    return new Set(readdirSync(path.join(dataDir, network)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)));
  } catch {
    return new Set();
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Takes the lock file `lockPath` (holding our pid) or throws naming the run that holds it; a lock
 * whose process is gone is taken over. Returns the release.
 */
export function takeBenchLock(lockPath: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(lockPath, 'utf8') === String(process.pid)) unlinkSync(lockPath);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        throw new Error(`another bench run (pid ${holder}) holds ${lockPath}: runs share the CNI bridge and subnet, wait for it to finish`);
      }
      unlinkSync(lockPath);
    }
  }
  throw new Error(`could not take ${lockPath}`);
}
