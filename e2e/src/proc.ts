// Running commands (ctr, runc, ...) from tests, and small process helpers.

import { tailFile, waitExit } from '@crisp/server';
import { ChildProcess, spawn } from 'node:child_process';
import * as net from 'node:net';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
  input?: string | Buffer;
  cwd?: string;
}

/** Runs a command to completion (never rejects on a non-zero exit; rejects if it cannot spawn). */
export function runCommand(cmd: string, args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (child.stdin) {
      // The command may exit without reading its input: that is not our error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Like runCommand but rejects (with stdout/stderr in the message) unless the exit code is 0. */
export async function runChecked(cmd: string, args: string[], opts: CommandOptions = {}): Promise<CommandResult> {
  const res = await runCommand(cmd, args, opts);
  if (res.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} failed (code ${res.code}, signal ${res.signal})\n--- stdout\n${res.stdout}\n--- stderr\n${res.stderr}`,
    );
  }
  return res;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a child process has exited. */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Waits for a child to exit; resolves false on timeout. */
export function waitChildExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  return waitExit(child, timeoutMs);
}

/** The last `maxBytes` of a file ('' if unreadable). */
/** The end of a (log) file, for error messages. */
export function tail(file: string, maxBytes = 4096): string {
  return tailFile(file, maxBytes);
}

// Children still running when the test process exits normally get SIGKILL.
const liveChildren = new Set<ChildProcess>();
let hookInstalled = false;
export function killOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  });
}
