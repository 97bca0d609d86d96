// Tear-down of everything a managed containerd left behind: tasks, shims (which outlive a
// killed containerd), their container processes, runc state and mounts.

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createChannel, createClient, Metadata } from 'nice-grpc';
import { namespaces, task, tasks } from '@crisp/api';

const SIGKILL = 9;
/** runc's state root as containerd 1.6's runc shim uses it by default (plus /<namespace>). */
export const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** Kill (SIGKILL) every task in every namespace through containerd's API, then delete them. */
export async function killAllTasks(address: string, timeoutMs = 10_000): Promise<void> {
  const channel = createChannel(`unix://${address}`);
  try {
    const ns = createClient(namespaces.NamespacesDefinition, channel);
    const ts = createClient(tasks.TasksDefinition, channel);
    const signal = () => AbortSignal.timeout(timeoutMs);
    const list = await ns.list({}, { signal: signal() });
    for (const { name } of list.namespaces) {
      const metadata = Metadata({ 'containerd-namespace': name });
      const opts = () => ({ metadata, signal: signal() });
      const running = await ts.list({}, opts());
      for (const t of running.tasks) {
        if (t.status !== task.Status.STOPPED) {
          await ts.kill({ containerId: t.containerId, signal: SIGKILL, all: true }, opts()).catch(() => undefined);
        }
      }
      for (const t of running.tasks) {
        const until = Date.now() + 5000;
        while (Date.now() < until) {
          const got = await ts.get({ containerId: t.containerId }, opts()).catch(() => undefined);
          if (!got?.process || got.process.status === task.Status.STOPPED) break;
          await sleep(50);
        }
        await ts.delete({ containerId: t.containerId }, opts()).catch(() => undefined);
      }
    }
  } finally {
    channel.close();
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  args: string[];
}

function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ... ; comm may contain spaces and parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const args = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      out.push({ pid: Number(entry), ppid: Number(rest[1]), args });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** pids of containerd shims started by the containerd at `address` (matched on `-address`). */
export function findShims(address: string): number[] {
  return listProcesses()
    .filter((p) => p.args.length > 0 && path.basename(p.args[0]).startsWith('containerd-shim'))
    .filter((p) => p.args.some((a, i) => (a === '-address' || a === '--address') && p.args[i + 1] === address))
    .map((p) => p.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; treat it as gone.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** SIGKILL the shims of `address` and every process below them (the containers). */
export async function killShims(address: string): Promise<number[]> {
  const shims = findShims(address);
  if (shims.length === 0) return [];
  const procs = listProcesses();
  const victims = new Set<number>(shims);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!victims.has(p.pid) && victims.has(p.ppid)) {
        victims.add(p.pid);
        grew = true;
      }
    }
  }
  // Children first, so the shims do not reap-and-restart anything in between.
  const ordered = [...victims].filter((p) => !shims.includes(p)).concat(shims);
  for (const pid of ordered) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const until = Date.now() + 5000;
  while (Date.now() < until && ordered.some(alive)) await sleep(25);
  return ordered;
}

/**
 * For each runtime v2 bundle under `state` (state/io.containerd.runtime.v2.task/<ns>/<id>):
 * `runc delete --force` its runc state and remove its shim socket.
 */
export async function deleteRuncState(state: string): Promise<void> {
  const tasksDir = path.join(state, 'io.containerd.runtime.v2.task');
  let nsList: string[] = [];
  try {
    nsList = fs.readdirSync(tasksDir);
  } catch {
    return;
  }
  for (const ns of nsList) {
    let ids: string[] = [];
    try {
      ids = fs.readdirSync(path.join(tasksDir, ns));
    } catch {
      continue;
    }
    for (const id of ids) {
      const bundle = path.join(tasksDir, ns, id);
      let runcRoot = path.join(DEFAULT_RUNC_ROOT, ns);
      try {
        const options = JSON.parse(fs.readFileSync(path.join(bundle, 'options.json'), 'utf8')) as { Root?: string; root?: string };
        const root = options.Root ?? options.root;
        if (root) runcRoot = path.join(root, ns);
      } catch {
        // no options.json: defaults
      }
      if (fs.existsSync(path.join(runcRoot, id))) {
        await run('runc', ['--root', runcRoot, 'delete', '--force', id]);
      }
      try {
        const addr = fs.readFileSync(path.join(bundle, 'address'), 'utf8').trim().replace(/^unix:\/\//, '');
        if (addr.startsWith('/')) fs.rmSync(addr, { force: true });
      } catch {
        // no address file
      }
    }
  }
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or below any of `roots`, deepest first. */
export function mountsUnder(roots: string[]): string[] {
  let text = '';
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const found = new Set<string>();
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const mp = unescapeMountPath(fields[4]);
    if (roots.some((r) => mp === r || mp.startsWith(r.endsWith('/') ? r : `${r}/`))) found.add(mp);
  }
  return [...found].sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

/** Lazily unmount everything at or below `roots` (deepest first). */
export async function unmountUnder(roots: string[]): Promise<string[]> {
  const done: string[] = [];
  for (let round = 0; round < 3; round++) {
    const mounts = mountsUnder(roots);
    if (mounts.length === 0) break;
    for (const mp of mounts) {
      await run('umount', ['-l', mp]);
      done.push(mp);
    }
  }
  return done;
}

export interface LeftoverCleanup {
  address: string;
  running: boolean;
  stop(): Promise<void>;
  state: string;
  mountRoots: string[];
}

/** The whole tear-down, each step best-effort. */
export async function cleanupContainerdLeftovers(c: LeftoverCleanup): Promise<void> {
  if (c.running) await killAllTasks(c.address).catch(() => undefined);
  await c.stop();
  await killShims(c.address);
  await deleteRuncState(c.state);
  await unmountUnder(c.mountRoots);
}
