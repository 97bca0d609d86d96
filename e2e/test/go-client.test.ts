// crisp's gRPC server as Go clients see it: kubelet and crictl speak grpc-go over Go's HTTP/2, which
// none of the other tests (grpc-js clients) exercise. e2e/go-client is built with Debian's Go and
// grpc-go and run against crisp over its real socket; each line it prints is one check.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { containerConfig, eventually, hostNetworkPodConfig, makeTempDir, startCrispSuite } from '@crisp/e2e';
import type { CrispSuite } from '@crisp/e2e';

jest.setTimeout(300_000);

const SOURCE = path.resolve(__dirname, '../go-client');
/** Debian's Go packages (golang-google-grpc-dev) install their sources here, for GOPATH builds. */
const GOPATH = '/usr/share/gocode';
const EXEC_BYTES = 8_000_000;

type Check = { check: string } & Record<string, unknown>;

describe('a grpc-go client (as kubelet and crictl)', () => {
  let suite: CrispSuite;
  const checks = new Map<string, Check>();
  let containerId = '';
  let stderr = '';

  beforeAll(async () => {
    const bin = path.join(makeTempDir('crisp-e2e-go-'), 'crisp-go-client');
    const build = spawnSync('go', ['build', '-o', bin, '.'], {
      cwd: SOURCE,
      env: { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: path.join(path.dirname(bin), 'cache'), GOFLAGS: '' },
      encoding: 'utf8',
    });
    if (build.status !== 0) throw new Error(`go build failed (${build.error?.message ?? build.status}): ${build.stderr}`);

    suite = await startCrispSuite({ pod: hostNetworkPodConfig('pod-go-client') });
    ({ containerId } = await suite.crisp.runtime.createContainer({
      podSandboxId: suite.podId,
      config: containerConfig('main', suite.busybox, ['sleep', '3600']),
      sandboxConfig: suite.podConfig,
    }));
    await suite.crisp.runtime.startContainer({ containerId });

    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(bin, ['-socket', suite.crisp.socket, '-container', containerId, '-exec-bytes', String(EXEC_BYTES)]);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code: number | null) => resolve({ code, stdout: out, stderr: err }));
    });
    stderr = run.stderr;
    if (run.code !== 0) throw new Error(`crisp-go-client exited ${run.code}: ${run.stderr}`);
    for (const line of run.stdout.split('\n').filter((l) => l !== '')) {
      const c = JSON.parse(line) as Check;
      checks.set(c.check, c);
    }
  });

  afterAll(() => suite?.stop());

  const check = (name: string): Check => {
    const c = checks.get(name);
    if (!c) throw new Error(`no "${name}" line from crisp-go-client (stderr: ${stderr})`);
    return c;
  };

  it('checks health and calls Version', () => {
    expect(check('health')).toMatchObject({ code: 'OK', status: 'SERVING' });
    expect(check('version')).toMatchObject({ code: 'OK', runtimeName: 'crisp' });
  });

  it('sends a gzip-compressed request', () => {
    expect(check('gzip')).toMatchObject({ code: 'OK', runtimeName: 'crisp' });
  });

  it('answers 2048 calls from 64 goroutines on one connection', () => {
    expect(check('concurrent')).toEqual({ check: 'concurrent', ok: 2048, failed: 0 });
  });

  it('takes a 12 MiB request through flow control and refuses one over the 16 MiB limit', () => {
    expect(check('large-request')).toMatchObject({ code: 'OK', runtimeName: 'crisp' });
    expect(check('too-large-request')).toMatchObject({ code: 'ResourceExhausted' });
    expect(check('too-large-request').message).toMatch(/larger than max/);
  });

  it('answers an unknown method UNIMPLEMENTED and an unknown container NOT_FOUND', () => {
    expect(check('unknown-method')).toMatchObject({ code: 'Unimplemented' });
    expect(check('unknown-method').message).toContain('NoSuchMethod');
    expect(check('not-found')).toMatchObject({ code: 'NotFound' });
    expect(check('not-found').message).toContain('no-such-container');
  });

  it('sends an 8 MB ExecSync answer intact', () => {
    expect(check('large-response')).toMatchObject({ code: 'OK', stdoutBytes: EXEC_BYTES, allA: true, stderr: 'err', exitCode: 4 });
  });

  /** The gRPC codes crisp logged for `rpc` (its e2e log level is debug: every call has a line). */
  const loggedCodes = async (rpc: string): Promise<string[]> =>
    (await suite.crisp.logs())
      .split('\n')
      .filter((l) => l.includes(`"rpc":"${rpc}"`))
      .map((l) => (JSON.parse(l) as { code: string }).code);

  it("ends a call at the client's deadline, on crisp's side too, and keeps the connection serving", async () => {
    const c = check('deadline');
    expect(c).toMatchObject({ code: 'DeadlineExceeded', afterCode: 'OK', afterRuntimeName: 'crisp' });
    expect(c.ms as number).toBeLessThan(5000);
    // crisp saw the deadline (grpc-timeout) or the client's reset: the ExecSync ended early and its `sleep 5` was killed.
    expect((await loggedCodes('ExecSync')).filter((code) => code !== 'OK')).toEqual([expect.stringMatching(/^(DEADLINE_EXCEEDED|CANCELLED)$/)]);
    await eventually('the timed-out exec process gone', async () => {
      const ps = await suite.crisp.runtime.execSync({ containerId, cmd: ['ps', '-o', 'args'], timeout: 0n });
      return !Buffer.from(ps.stdout).toString().includes('sleep 5');
    });
  });

  it('streams health Watch and ends it on crisp\'s side when the client cancels', async () => {
    expect(check('watch')).toMatchObject({ code: 'OK', status: 'SERVING', afterCancel: 'Canceled' });
    await eventually('the Watch call ended as CANCELLED in crisp', async () => (await loggedCodes('Watch')).includes('CANCELLED'));
  });

  it('still serves the image service at the end', () => {
    expect(check('image-fs-info')).toMatchObject({ code: 'OK' });
    expect(check('image-fs-info').imageFilesystems as number).toBeGreaterThanOrEqual(1);
  });
});
