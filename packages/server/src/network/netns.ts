// Network namespaces pinned at a path (a bind mount of an nsfs file), the way `ip netns` keeps them.
//
// Node can neither unshare() nor setns(), so creating one needs a helper process. crisp uses
// `ip netns add <name>` (iproute2, already a dependency) rather than `touch` + `unshare
// --net=<path> true`: `ip` also prepares /run/netns (a shared bind mount of itself, so that pins
// and unpins propagate to mount namespaces made later, e.g. those of containerd's shims, which
// would otherwise keep a removed namespace's mount alive), creates the file and the bind mount in
// one step and cleans up after itself when the mount fails; and `ip netns exec <name>` /
// `ip netns list` keep working on crisp's namespaces for debugging. It is one short spawn per
// sandbox, off every hot path.
//
// Removal needs no namespace entry: `umount` (lazy, so a process still inside keeps it alive) plus
// unlink, both tolerant of an already-gone namespace, for paths pinned by anyone.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Where `ip netns` pins namespaces (iproute2's NETNS_RUN_DIR). */
export const NETNS_RUN_DIR = '/var/run/netns';

/** statfs(2) f_type of nsfs: a pinned namespace is a mount of an nsfs file. */
const NSFS_MAGIC = 0x6e736673;

const DEFAULT_TIMEOUT_MS = 10_000;

export class NetnsError extends Error {
  override name = 'NetnsError';
}

export interface NetnsOptions {
  /** Kill the helper (`ip`, `umount`) after this long. */
  timeoutMs?: number;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`.trim();
      if (!err) return resolve({ ok: true, output });
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const why = e.killed ? `timed out after ${timeoutMs} ms` : output || e.message;
      resolve({ ok: false, output: why });
    });
  });
}

/** A name `ip netns` accepts and that stays inside NETNS_RUN_DIR. */
function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0') && name.length <= 255;
}

// `ip netns add` mounts /run/netns on itself the first time; two of those racing can leave two
// stacked mounts. One creation at a time within crisp avoids that (creations are rare and fast).
let creating: Promise<unknown> = Promise.resolve();

/**
 * Creates a network namespace pinned at `/var/run/netns/<name>` and returns that path.
 * `name` defaults to `cni-<uuid>`, as containerd names them. Fails if the name is taken.
 */
export function createNetns(name: string = `cni-${randomUUID()}`, opts: NetnsOptions = {}): Promise<string> {
  if (!validName(name)) return Promise.reject(new NetnsError(`invalid network namespace name ${JSON.stringify(name)}`));
  const next = creating.then(async () => {
    const res = await run('ip', ['netns', 'add', name], opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const nsPath = path.join(NETNS_RUN_DIR, name);
    if (!res.ok) {
      // A timed-out `ip` may have pinned it anyway: do not leak it (unless it was someone else's).
      if (!/exists/i.test(res.output)) await removeNetns(nsPath, opts).catch(() => undefined);
      throw new NetnsError(`ip netns add ${name}: ${res.output}`);
    }
    return nsPath;
  });
  creating = next.catch(() => undefined);
  return next;
}

/** Whether `nsPath` is a pinned namespace (an nsfs mount), not merely an existing file. */
export async function netnsExists(nsPath: string): Promise<boolean> {
  try {
    return (await fs.statfs(nsPath)).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * Unpins a namespace: unmounts it (lazily) and removes the file. Idempotent: a path that is gone,
 * or a file that is no longer mounted (e.g. after a reboot), is fine. The namespace itself lives
 * on while a process is still inside it.
 */
export async function removeNetns(nsPath: string, opts: NetnsOptions = {}): Promise<void> {
  if (!path.isAbsolute(nsPath)) throw new NetnsError(`network namespace path must be absolute: ${nsPath}`);
  try {
    await fs.lstat(nsPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  // A path may be mounted more than once (e.g. two racing `ip netns add`): unmount until it is
  // not an nsfs mount any more, with a bound so that a surprise cannot loop.
  for (let i = 0; i < 4 && (await netnsExists(nsPath)); i++) {
    const res = await run('umount', ['--lazy', nsPath], opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (!res.ok && (await netnsExists(nsPath))) throw new NetnsError(`umount ${nsPath}: ${res.output}`);
  }
  try {
    await fs.unlink(nsPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new NetnsError(`remove ${nsPath}: ${(err as Error).message}`);
  }
}
