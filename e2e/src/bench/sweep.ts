// Last-resort clean-up of what pods leave on the host when their runtime could not tear them down
// (e.g. crisp died or hung mid-bench): network namespaces holding an address of the bench's subnet,
// and mounts (the pods' /dev/shm) under crisp's dir. Runs after crisp and containerd are stopped
// (their pause processes killed), before the bridge is deleted. Whatever it removes is a failure of
// the runtime's own clean-up, and is reported as such.
import { readdirSync } from 'node:fs';
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
  /** IPv4 prefix of the bench's CNI subnet, e.g. `10.232.`: only namespaces with such an address go. */
  addressPrefix: string;
  /** Dirs whose mounts are unmounted (crisp's dir). */
  mountRoots: string[];
}

/** Removes the leftovers; returns one line per thing removed (empty when the runtimes cleaned up). */
export async function sweepHost(opts: SweepOptions): Promise<string[]> {
  const removed: string[] = [];
  for (const name of listNetns()) {
    if (opts.netnsBefore.has(name)) continue;
    const res = await runCommand('ip', ['-n', name, '-4', '-o', 'addr', 'show']);
    const addr = res.stdout.split('\n').map((l) => /\binet (\S+)/.exec(l)?.[1]).find((a) => a?.startsWith(opts.addressPrefix));
    if (!addr) continue;
    const del = await runCommand('ip', ['netns', 'delete', name]);
    removed.push(del.code === 0 ? `netns ${name} (${addr})` : `netns ${name} (${addr}): could not delete: ${del.stderr.trim()}`);
  }
  for (const mp of await unmountUnder(opts.mountRoots)) removed.push(`mount ${mp}`);
  return removed;
}
