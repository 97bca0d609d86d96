// Attach over the streaming server end to end: real containerd and runc, a host-network pod with
// busybox containers created with stdin, and the test client speaking SPDY/3.1 and WebSocket.
// Checks that input reaches the container and its output comes back while it still goes to the
// CRI log, stdin_once (closing the client's stdin gives the container EOF; the session ends with
// the container), a TTY resize, detaching without stopping the container, and the validation errors.
import { cri } from '@crisp/api';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc';
import { containerConfig, eventually, grpcError, hostNetworkPodConfig, remoteCommand, startCrispSuite, startFakeApiServer } from '@crisp/e2e';
import type { CrispProcess, CrispSuite, Transport } from '@crisp/e2e';

jest.setTimeout(300_000);

/** Real client-go: kubectl, when installed, through a fake API server (e2e/src/streaming/fake-apiserver.ts). */
const HAS_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

describe('streaming Attach', () => {
  let suite: CrispSuite;
  let crisp: CrispProcess;
  let busybox: string;
  let podId: string;
  let sandboxConfig: cri.PodSandboxConfig;
  let logDir: string;
  let seq = 0;

  const start = async (command: string[], extra: Partial<cri.ContainerConfig>): Promise<{ id: string; name: string }> => {
    const name = `c${++seq}`;
    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: podId, config: containerConfig(name, busybox, command, extra), sandboxConfig });
    await crisp.runtime.startContainer({ containerId });
    return { id: containerId, name };
  };
  const state = async (id: string) => (await crisp.runtime.containerStatus({ containerId: id, verbose: false })).status?.state;
  const attachUrl = async (containerId: string, stdio: Partial<Pick<cri.AttachRequest, 'stdin' | 'stdout' | 'stderr' | 'tty'>>): Promise<string> =>
    (await crisp.runtime.attach({ containerId, stdin: false, stdout: false, stderr: false, tty: false, ...stdio })).url;
  const attach = async (transport: Transport, containerId: string, stdio: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean }) => {
    const want = { stdin: false, stdout: false, stderr: false, tty: false, ...stdio };
    return remoteCommand(transport, await attachUrl(containerId, want), want);
  };

  beforeAll(async () => {
    suite = await startCrispSuite({
      pod: (c) =>
hostNetworkPodConfig('pod-stream-attach', { logDirectory: path.join(c.dir, 'pod-logs') }),
    });
    ({ crisp, busybox, podId } = suite);
    sandboxConfig = suite.podConfig!;
    logDir = sandboxConfig.logDirectory;
  });

  afterAll(() => suite?.stop());

  describe.each<Transport>(['spdy', 'websocket'])('over %s', (transport) => {
    it("streams the container's output for its input, still logging it, and detaches without stopping it", async () => {
      const { id, name } = await start(['cat'], { stdin: true, stdinOnce: false });
      const s = await attach(transport, id, { stdin: true, stdout: true, stderr: true });
      s.writeStdin('ping one\n');
      await s.waitForStdout((t) => t === 'ping one\n');
      s.writeStdin('ping two\n');
      await s.waitForStdout((t) => t === 'ping one\nping two\n');
      await eventually('the output in the CRI log', async () => readFileSync(path.join(logDir, `${name}.log`), 'utf8').includes('stdout F ping two'));
      s.disconnect();
      await s.result;
      expect(await state(id)).toBe(cri.ContainerState.CONTAINER_RUNNING);

      // Without stdin_once the container's stdin stays open for the next client.
      const again = await attach(transport, id, { stdin: true, stdout: true });
      again.writeStdin('ping three\n');
      await again.waitForStdout((t) => t === 'ping three\n');
      again.disconnect();
      await crisp.runtime.stopContainer({ containerId: id, timeout: 0n });
    });

    it('gives the container EOF when the client closes stdin (stdin_once), and ends with the container', async () => {
      const { id } = await start(['sh', '-c', 'cat; echo done; exit 0'], { stdin: true, stdinOnce: true });
      const s = await attach(transport, id, { stdin: true, stdout: true, stderr: true });
      s.writeStdin('last words\n');
      await s.waitForStdout((t) => t === 'last words\n');
      s.closeStdin();
      const r = await s.result;
      expect(r.stdout.toString()).toBe('last words\ndone\n');
      expect(r.exitCode).toBe(0);
      await eventually('the container to be exited', async () => (await state(id)) === cri.ContainerState.CONTAINER_EXITED);
    });

    it("resizes a TTY container's terminal", async () => {
      const { id } = await start(['sh', '-c', 'while read l; do [ "$l" = q ] && exit 0; s=$(stty size 2>/dev/null); echo "size:${s:-none}"; done'], { stdin: true, tty: true });
      const s = await attach(transport, id, { stdin: true, stdout: true, tty: true });
      s.resize(101, 33);
      // One answer per line: the size, or "none" (busybox stty prints nothing for a 0x0 terminal).
      const sizes = (t: string): string[] => [...t.matchAll(/^size:(\d+ \d+|none)\r?$/gm)].map((m) => m[1]!);
      let seen: string[] = [];
      for (let i = 1; i <= 50 && !seen.includes('33 101'); i++) {
        s.writeStdin('\n');
        seen = sizes(await s.waitForStdout((t) => sizes(t).length >= i));
      }
      expect(seen).toContain('33 101');
      s.writeStdin('q\n');
      const r = await s.result;
      expect(r.exitCode).toBe(0);
    });
  });

  (HAS_KUBECTL ? it : it.skip).each([
    ['websocket', 'true'],
    ['SPDY/3.1', 'false'],
  ])('serves kubectl attach -i over %s (stdin_once: its EOF ends the container)', async (upgrade, websockets) => {
    const { id } = await start(['sh', '-c', 'cat; echo cat done'], { stdin: true, stdinOnce: true });
    const api = await startFakeApiServer({
      pod: 'p',
      containers: [{ name: 'c', stdin: true, stdinOnce: true }],
      streamUrl: async (q) => (await crisp.runtime.attach({ containerId: id, stdin: q.stdin, stdout: q.stdout, stderr: q.stderr, tty: q.tty })).url,
    });
    try {
      const r = await api.kubectl(['attach', '-i', 'p', '-c', 'c'], { env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: websockets }, input: 'hello via attach\n' });
      expect(r).toMatchObject({ code: 0, stdout: 'hello via attach\ncat done\n' });
      expect(api.upgrades).toEqual([upgrade]);
      await eventually('the container to be exited', async () => (await state(id)) === cri.ContainerState.CONTAINER_EXITED);
    } finally {
      await api.close();
    }
  });

  it('validates the request like kubelet', async () => {
    const { id: noStdin } = await start(['sleep', '3600'], {});
    expect((await grpcError(attachUrl('no-such-container', { stdout: true }))).code).toBe(Status.NOT_FOUND);
    expect((await grpcError(attachUrl(noStdin, {}))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(attachUrl(noStdin, { stdout: true, stderr: true, tty: true }))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(attachUrl(noStdin, { stdin: true, stdout: true }))).code).toBe(Status.INVALID_ARGUMENT);
    await crisp.runtime.stopContainer({ containerId: noStdin, timeout: 0n });
    expect((await grpcError(attachUrl(noStdin, { stdout: true }))).code).toBe(Status.FAILED_PRECONDITION);
  });
});
