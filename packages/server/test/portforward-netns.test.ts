// The netns dialer for real (root): a network namespace made with `ip netns add`, a TCP server on
// 127.0.0.1 inside it (nothing on that port in the test's own namespace), and the helper process
// entered with nsenter, run from netns-helper.ts transpiled on its own (as the build emits it).
import { ChildProcess, spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as ts from 'typescript';
import { createLogger } from '../src/log';
import { DialError, NetnsDialers, endNetnsDialers } from '../src/streaming/portforward';
import { closedPort, readText } from './loopback';

const canRun = process.getuid?.() === 0 && existsSync('/usr/bin/nsenter') && existsSync('/usr/sbin/ip');

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

(canRun ? describe : describe.skip)('netns dialer (helper in a real network namespace)', () => {
  const logger = createLogger('silent');
  const nsName = `crisp-pf-${randomBytes(4).toString('hex')}`;
  const nsPath = `/var/run/netns/${nsName}`;
  let tmp: string;
  let helperScript: string;
  let server: ChildProcess;
  let port: number;
  let dialers: NetnsDialers;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'crisp-pf-test-'));
    const source = readFileSync(path.join(__dirname, '../src/streaming/portforward/netns-helper.ts'), 'utf8');
    const out = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } });
    helperScript = path.join(tmp, 'netns-helper.js');
    writeFileSync(helperScript, out.outputText);

    execFileSync('ip', ['netns', 'add', nsName]);
    execFileSync('ip', ['netns', 'exec', nsName, 'ip', 'link', 'set', 'lo', 'up']);
    port = await closedPort();
    server = spawn('ip', ['netns', 'exec', nsName, process.execPath, '-e',
      `require('net').createServer((s) => s.end('hello from the pod netns')).listen(${port}, '127.0.0.1', () => console.log('ready'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(server.stdout!, 'data');
  });

  afterAll(() => {
    server?.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', nsName]);
    } catch {
      // already gone
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  beforeEach(() => {
    dialers = new NetnsDialers({ logger, helperScript, connectTimeoutMs: 2_000 });
  });

  afterEach(async () => {
    await dialers.close();
  });

  it('connects to localhost inside the namespace, not in crisp\'s own', async () => {
    await expect(new Promise((resolve, reject) => net.connect(port, '127.0.0.1').on('connect', resolve).on('error', reject))).rejects.toThrow(/ECONNREFUSED/);
    const dialer = dialers.acquire(nsPath);
    const socket = await dialer.dial(port);
    expect(await readText(socket)).toBe('hello from the pod netns');
    dialer.release();
  });

  it('reports a closed port with both address families tried', async () => {
    const dialer = dialers.acquire(nsPath);
    const err = await dialer.dial(port + 1 > 65535 ? port - 1 : port + 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DialError);
    expect((err as Error).message).toMatch(/failed to connect to localhost:\d+: IPv4: connect ECONNREFUSED 127\.0\.0\.1:\d+; IPv6: /);
    dialer.release();
  });

  it('uses one helper for concurrent dials of several sessions, and ends it with the last session', async () => {
    const a = dialers.acquire(nsPath);
    const b = dialers.acquire(nsPath);
    const sockets = await Promise.all([a.dial(port), a.dial(port), b.dial(port), b.dial(port), b.dial(port)]);
    expect(await Promise.all(sockets.map(readText))).toEqual(Array(5).fill('hello from the pod netns'));
    const pid = dialers.helperPids().get(nsPath)!;
    expect(alive(pid)).toBe(true);
    a.release();
    expect(dialers.helperPids().get(nsPath)).toBe(pid);
    b.release();
    await waitUntil(() => !alive(pid), 'the helper to exit');
  });

  it('starts a new helper when the previous one died', async () => {
    const dialer = dialers.acquire(nsPath);
    await readText(await dialer.dial(port));
    const first = dialers.helperPids().get(nsPath)!;
    process.kill(first, 'SIGKILL');
    await waitUntil(() => dialers.helperPids().get(nsPath) === undefined, 'the pool to notice');
    expect(await readText(await dialer.dial(port))).toBe('hello from the pod netns');
    const second = dialers.helperPids().get(nsPath)!;
    expect(second).not.toBe(first);
    dialer.release();
  });

  it('ends an idle helper and starts one again on demand', async () => {
    const idle = new NetnsDialers({ logger, helperScript, idleMs: 100 });
    const dialer = idle.acquire(nsPath);
    await readText(await dialer.dial(port));
    const pid = idle.helperPids().get(nsPath)!;
    await waitUntil(() => !alive(pid), 'the idle helper to exit');
    expect(await readText(await dialer.dial(port))).toBe('hello from the pod netns');
    dialer.release();
    await idle.close();
  });

  it('ends the helper when the sandbox stops (endNetnsDialers) and refuses later dials there', async () => {
    const dialer = dialers.acquire(nsPath);
    await readText(await dialer.dial(port));
    const pid = dialers.helperPids().get(nsPath)!;
    await endNetnsDialers(nsPath);
    expect(alive(pid)).toBe(false);
    await expect(dialer.dial(port)).rejects.toThrow(`network namespace ${nsPath} is closed`);
    dialer.release();
  });

  it('fails a dial with nsenter\'s reason when the namespace does not exist', async () => {
    const dialer = dialers.acquire('/var/run/netns/crisp-pf-no-such-ns');
    await expect(dialer.dial(port)).rejects.toThrow(/netns helper exited \(code 1\): nsenter: .*crisp-pf-no-such-ns/);
    dialer.release();
  });

  it('close() ends every helper', async () => {
    const dialer = dialers.acquire(nsPath);
    await readText(await dialer.dial(port));
    const pid = dialers.helperPids().get(nsPath)!;
    await dialers.close();
    expect(alive(pid)).toBe(false);
    await expect(dialer.dial(port)).rejects.toThrow('shutting down');
  });
});
