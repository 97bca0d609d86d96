// Exec over the streaming server end to end: real containerd and runc, a host-network pod with a
// busybox container, and the test client (e2e/src/streaming) speaking SPDY/3.1 and WebSocket as
// kubelet/client-go and crictl do. Checks stdout/stderr separation, stdin, a TTY resize, exit codes
// on the error stream, the validation errors, single-use and expiring tokens, and that a client
// that disconnects mid-exec leaves no process nor FIFO behind.
import { cri } from '@crisp/api';
import { ContainerdClient } from '@crisp/containerd';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Status } from 'nice-grpc';
import {
  UpgradeRefusedError,
  containerConfig,
  eventually,
  grpcError,
  hostNetworkPodConfig,
  openSpdy,
  openWebSocket,
  remoteCommand,
  startCrispSuite,
  startFakeApiServer,
} from '@crisp/e2e';
import type { CrispProcess, CrispSuite, FakeApiServer, RemoteCommandSession, Transport } from '@crisp/e2e';

jest.setTimeout(300_000);

/** Short, so that the expiry test need not wait long; every other URL is used at once. */
const TOKEN_TTL_SECONDS = 5;
/** Real client-go: kubectl, when installed, through a fake API server (e2e/src/streaming/fake-apiserver.ts). */
const HAS_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

describe('streaming Exec', () => {
  let suite: CrispSuite;
  let crisp: CrispProcess;
  let client: ContainerdClient;
  let busybox: string;
  let podId: string;
  let sandboxConfig: cri.PodSandboxConfig;
  let main: string;

  const execUrl = async (containerId: string, cmd: string[], stdio: Partial<Pick<cri.ExecRequest, 'stdin' | 'stdout' | 'stderr' | 'tty'>>): Promise<string> => {
    const { url } = await crisp.runtime.exec({ containerId, cmd, stdin: false, stdout: false, stderr: false, tty: false, ...stdio });
    return url;
  };
  const open = async (transport: Transport, containerId: string, cmd: string[], stdio: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean }): Promise<RemoteCommandSession> => {
    const want = { stdin: false, stdout: false, stderr: false, tty: false, ...stdio };
    return remoteCommand(transport, await execUrl(containerId, cmd, want), want);
  };
  const execDirs = (id: string): string[] => {
    const dir = path.join(crisp.stateDir, 'io', id);
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('exec-')) : [];
  };
  /** Processes containerd knows in the container: the init process has no `info`, exec processes do. */
  const execPids = async (id: string) => (await client.tasks.listPids({ containerId: id })).processes.filter((p) => p.info !== undefined);

  beforeAll(async () => {
    suite = await startCrispSuite({
      config: `[streaming]\ntoken_ttl_seconds = ${TOKEN_TTL_SECONDS}\n`,
      containerdClient: true,
      pod: hostNetworkPodConfig('pod-stream-exec'),
    });
    ({ crisp, busybox, podId } = suite);
    client = suite.client!;
    sandboxConfig = suite.podConfig!;
    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: podId, config: containerConfig('main', busybox, ['sleep', '3600']), sandboxConfig });
    await crisp.runtime.startContainer({ containerId });
    main = containerId;
  });

  afterAll(() => suite?.stop());

  it('returns a URL on the loopback streaming server', async () => {
    const url = new URL(await execUrl(main, ['true'], { stdout: true }));
    expect(url.protocol).toBe('http:');
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.pathname).toMatch(/^\/exec\/[A-Za-z0-9_-]{43}$/);
  });

  describe.each<Transport>(['spdy', 'websocket'])('over %s', (transport) => {
    it('keeps stdout and stderr apart and reports success', async () => {
      const s = await open(transport, main, ['sh', '-c', 'echo out; echo err >&2'], { stdout: true, stderr: true });
      const r = await s.result;
      expect(r.stdout.toString()).toBe('out\n');
      expect(r.stderr.toString()).toBe('err\n');
      expect(r.status?.status).toBe('Success');
      expect(r.exitCode).toBe(0);
    });

    it('pipes stdin to the process until the client closes it', async () => {
      const s = await open(transport, main, ['cat'], { stdin: true, stdout: true, stderr: true });
      s.writeStdin('hello\n');
      await s.waitForStdout((t) => t === 'hello\n');
      s.writeStdin('world\n');
      s.closeStdin();
      const r = await s.result;
      expect(r.stdout.toString()).toBe('hello\nworld\n');
      expect(r.stderr.toString()).toBe('');
      expect(r.exitCode).toBe(0);
    });

    it('reports a non-zero exit code as NonZeroExitCode on the error stream', async () => {
      const s = await open(transport, main, ['sh', '-c', 'exit 7'], { stdout: true, stderr: true });
      const r = await s.result;
      expect(r.status).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
      expect(r.exitCode).toBe(7);
    });

    it('runs on a terminal that the client resizes', async () => {
      // Each line read prints the terminal size; "q" ends it. Input typed before the terminal is set up
      // may be flushed (as on any fresh terminal): wait for "ready" before typing.
      const script = 'echo ready; while read l; do [ "$l" = q ] && exit 0; s=$(stty size 2>/dev/null); echo "size:${s:-none}"; done';
      const s = await open(transport, main, ['sh', '-c', script], { stdin: true, stdout: true, tty: true });
      s.resize(123, 45);
      await s.waitForStdout((t) => t.includes('ready'));
      // The resize and the input travel separately: ask until the new size shows.
      // One answer per line: the size, or "none" (busybox stty prints nothing for a 0x0 terminal).
      const sizes = (t: string): string[] => [...t.matchAll(/^size:(\d+ \d+|none)\r?$/gm)].map((m) => m[1]!);
      let seen: string[] = [];
      for (let i = 1; i <= 50 && !seen.includes('45 123'); i++) {
        s.writeStdin('\n');
        seen = sizes(await s.waitForStdout((t) => sizes(t).length >= i));
      }
      expect(seen).toContain('45 123');
      s.writeStdin('q\n');
      const r = await s.result;
      expect(r.exitCode).toBe(0);
    });

    it('kills and reaps the process of a client that disconnects, leaving no FIFO behind', async () => {
      expect(await execPids(main)).toEqual([]);
      expect(execDirs(main)).toEqual([]);
      const s = await open(transport, main, ['sh', '-c', 'echo started; exec sleep 3600'], { stdout: true, stderr: true });
      await s.waitForStdout((t) => t.includes('started'));
      expect(await execPids(main)).toHaveLength(1);
      expect(execDirs(main)).toHaveLength(1);
      s.disconnect();
      await eventually('the exec process to be gone', async () => (await execPids(main)).length === 0);
      await eventually('the exec FIFOs to be removed', async () => execDirs(main).length === 0);
    });
  });

  (HAS_KUBECTL ? describe : describe.skip)('with kubectl through a fake API server', () => {
    let api: FakeApiServer;
    beforeAll(async () => {
      api = await startFakeApiServer({
        pod: 'p',
        containers: [{ name: 'main' }],
        streamUrl: async (q) => (await crisp.runtime.exec({ containerId: main, cmd: q.command, stdin: q.stdin, stdout: q.stdout, stderr: q.stderr, tty: q.tty })).url,
      });
    });
    afterAll(async () => api?.close());

    it.each([
      ['websocket', 'true'],
      ['SPDY/3.1', 'false'],
    ])('runs kubectl exec over %s', async (upgrade, websockets) => {
      const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: websockets };
      const r = await api.kubectl(['exec', 'p', '-c', 'main', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { env });
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('out\n');
      expect(r.stderr).toContain('err\n');
      expect(r.stderr).toContain('command terminated with exit code 3');
      const c = await api.kubectl(['exec', '-i', 'p', '-c', 'main', '--', 'cat'], { env, input: 'hello via stdin\n' });
      expect(c).toMatchObject({ code: 0, stdout: 'hello via stdin\n' });
      // kubectl falls back from WebSocket to SPDY silently: check which one it used.
      expect(api.upgrades.slice(-2)).toEqual([upgrade, upgrade]);
    });
  });

  it('speaks the base64 WebSocket protocol', async () => {
    const s = await remoteCommand('websocket', await execUrl(main, ['sh', '-c', 'printf "\\001\\377x"; exit 3'], { stdout: true }), {
      stdin: false,
      stdout: true,
      stderr: false,
      tty: false,
      protocols: ['v4.base64.channel.k8s.io'],
    });
    expect(s.protocol).toBe('v4.base64.channel.k8s.io');
    const r = await s.result;
    expect([...r.stdout]).toEqual([1, 255, 0x78]);
    expect(r.exitCode).toBe(3);
  });

  it('sends only the error text before v4 (SPDY v2)', async () => {
    const s = await remoteCommand('spdy', await execUrl(main, ['sh', '-c', 'echo x; exit 5'], { stdout: true }), {
      stdin: false,
      stdout: true,
      stderr: false,
      tty: false,
      protocols: ['v2.channel.k8s.io'],
    });
    expect(s.protocol).toBe('v2.channel.k8s.io');
    const r = await s.result;
    expect(r.stdout.toString()).toBe('x\n');
    expect(r.error.toString()).toContain('non-zero exit code: 5');
    expect(r.status).toBeUndefined();
  });

  it('answers 404 to a reused token, over either transport', async () => {
    const url = await execUrl(main, ['true'], { stdout: true });
    const first = await remoteCommand('spdy', url, { stdin: false, stdout: true, stderr: false, tty: false });
    expect((await first.result).exitCode).toBe(0);
    for (const attempt of [openSpdy(url, ['v4.channel.k8s.io']), openWebSocket(url, ['v4.channel.k8s.io'])]) {
      const err = await attempt.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(UpgradeRefusedError);
      expect((err as UpgradeRefusedError).statusCode).toBe(404);
    }
  });

  it('answers 404 to an expired token', async () => {
    const url = await execUrl(main, ['true'], { stdout: true });
    await new Promise((r) => setTimeout(r, (TOKEN_TTL_SECONDS + 1) * 1000));
    const err = await openSpdy(url, ['v4.channel.k8s.io']).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UpgradeRefusedError);
    expect((err as UpgradeRefusedError).statusCode).toBe(404);
  });

  it('answers 404 to an unknown token and 400 to a request that does not upgrade', async () => {
    const url = new URL(await execUrl(main, ['true'], { stdout: true }));
    const unknown = `${url.origin}/exec/${'A'.repeat(43)}`;
    const err = await openSpdy(unknown, ['v4.channel.k8s.io']).then(() => undefined, (e: unknown) => e);
    expect((err as UpgradeRefusedError).statusCode).toBe(404);
    const plain = await new Promise<number>((resolve, reject) => {
      http.get(url, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(plain).toBe(400);
  });

  it('refuses a subprotocol it does not speak with 403', async () => {
    const url = await execUrl(main, ['true'], { stdout: true });
    const err = await openSpdy(url, ['v9.channel.k8s.io']).then(() => undefined, (e: unknown) => e);
    expect((err as UpgradeRefusedError).statusCode).toBe(403);
  });

  it('validates the request like kubelet', async () => {
    expect((await grpcError(execUrl('no-such-container', ['true'], { stdout: true }))).code).toBe(Status.NOT_FOUND);
    expect((await grpcError(execUrl(main, ['true'], {}))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(execUrl(main, ['true'], { stdout: true, stderr: true, tty: true }))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(execUrl(main, [], { stdout: true }))).code).toBe(Status.INVALID_ARGUMENT);
    const { containerId: created } = await crisp.runtime.createContainer({ podSandboxId: podId, config: containerConfig('not-started', busybox, ['sleep', '3600']), sandboxConfig });
    expect((await grpcError(execUrl(created, ['true'], { stdout: true }))).code).toBe(Status.FAILED_PRECONDITION);
  });
});
