// ExecSync end to end: real containerd and runc, a host-network pod (no CNI needed) with busybox
// containers. Checks output, exit codes, the timeout (and that the killed process and its exec are
// gone), the container's user/env/cwd, the 16 MiB cap, concurrency, errors, and that no FIFO
// directory is left behind.
import { cri } from '@crisp/api';
import { ContainerdClient, isNotFound } from '@crisp/containerd';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc';
import { containerConfig, eventually, grpcError, hostNetworkPodConfig, startCrispSuite } from '@crisp/e2e';
import type { CrispProcess, CrispSuite } from '@crisp/e2e';

jest.setTimeout(300_000);

const MiB = 1024 * 1024;

describe('ExecSync', () => {
  let suite: CrispSuite;
  let crisp: CrispProcess;
  let client: ContainerdClient;
  let busybox: string;
  /** busybox `sleep 3600`, as root. */
  let main: string;
  /** busybox `sleep 3600` as uid 1000, with env and a working dir. */
  let asUser: string;

  const exec = (containerId: string, cmd: string[], timeout = 0n, signal?: AbortSignal) =>
    crisp.runtime.execSync({ containerId, cmd, timeout }, signal ? { signal } : {});
  const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

  const startContainer = async (name: string, command: string[], extra: Partial<cri.ContainerConfig> = {}): Promise<string> => {
    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: suite.podId, config: containerConfig(name, busybox, command, extra), sandboxConfig: suite.podConfig });
    await crisp.runtime.startContainer({ containerId });
    return containerId;
  };

  /** The exec ids left in `<stateDir>/io/<id>/`. */
  const execDirs = (id: string): string[] => {
    const dir = path.join(crisp.stateDir, 'io', id);
    return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('exec-')) : [];
  };

  /** The container's processes as containerd sees them; exec processes carry their exec id in `info`. */
  const pids = async (id: string) => (await client.tasks.listPids({ containerId: id })).processes;

  /** The command lines of the processes in the container, from `ps` run through ExecSync. */
  const psArgs = async (id: string): Promise<string[]> => {
    const r = await exec(id, ['ps', '-o', 'args']);
    return text(r.stdout).split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '');
  };

  beforeAll(async () => {
    suite = await startCrispSuite({
      containerdClient: true,
      pod: hostNetworkPodConfig('pod-exec'),
    });
    ({ crisp, busybox } = suite);
    client = suite.client!;
    main = await startContainer('main', ['sleep', '3600']);
    asUser = await startContainer('as-user', ['sleep', '3600'], {
      envs: [{ key: 'GREETING', value: Buffer.from('hello from env') }],
      workingDir: '/tmp',
      linux: { securityContext: { runAsUser: { value: 1000n }, runAsGroup: { value: 1000n } } } as never,
    });
  });

  afterAll(() => suite?.stop());

  it('returns stdout and exit code 0', async () => {
    const r = await exec(main, ['echo', 'hi']);
    expect(text(r.stdout)).toBe('hi\n');
    expect(text(r.stderr)).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('returns stderr and the exit code of a failing command, the streams kept apart', async () => {
    const r = await exec(main, ['sh', '-c', 'echo out; echo oops >&2; exit 4']);
    expect(text(r.stdout)).toBe('out\n');
    expect(text(r.stderr)).toBe('oops\n');
    expect(r.exitCode).toBe(4);
  });

  it('kills the process on timeout and answers DEADLINE_EXCEEDED, leaving no process nor exec behind', async () => {
    const started = Date.now();
    const err = await grpcError(exec(main, ['sh', '-c', 'echo partial; exec sleep 10'], 1n));
    const elapsed = Date.now() - started;
    expect(err.code).toBe(Status.DEADLINE_EXCEEDED);
    expect(err.details).toContain('timed out after 1 s');
    expect(err.details).toContain('partial');
    expect(elapsed).toBeLessThan(2500);

    expect(await psArgs(main)).not.toContain('sleep 10');
    const procs = await pids(main);
    expect(procs).toHaveLength(1);
    expect(procs[0]!.info).toBeUndefined();
    // The exec id from crisp's log: containerd no longer knows it.
    const line = (await crisp.logs()).split('\n').find((l) => l.includes('ExecSync timed out') && l.includes(main));
    const execId = (JSON.parse(line!) as { execId: string }).execId;
    const gone = await client.tasks.get({ containerId: main, execId }).then(
      () => 'still there',
      (e: unknown) => (isNotFound(e) ? 'gone' : String(e)),
    );
    expect(gone).toBe('gone');
    expect(execDirs(main)).toEqual([]);
  });

  it('a plain `sleep 10` with timeout 1 is gone afterwards', async () => {
    const started = Date.now();
    expect((await grpcError(exec(main, ['sleep', '10'], 1n))).code).toBe(Status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(await psArgs(main)).not.toContain('sleep 10');
    expect(await pids(main)).toHaveLength(1);
  });

  it('a command that finishes in time is unaffected by the timeout', async () => {
    const r = await exec(main, ['sh', '-c', 'sleep 0.2; echo done'], 5n);
    expect(text(r.stdout)).toBe('done\n');
    expect(r.exitCode).toBe(0);
  });

  it("runs as the container's user, with its env and working dir", async () => {
    expect(text((await exec(asUser, ['id', '-u'])).stdout)).toBe('1000\n');
    const r = await exec(asUser, ['sh', '-c', 'echo "$GREETING"; pwd; id -g']);
    expect(text(r.stdout)).toBe('hello from env\n/tmp\n1000\n');
    expect(text((await exec(main, ['id', '-u'])).stdout)).toBe('0\n');
  });

  it('caps stdout at 16 MiB exactly, dropping the rest, and still returns the exit code', async () => {
    const r = await exec(main, ['sh', '-c', 'head -c 20000000 /dev/zero; echo tail >&2; exit 3']);
    expect(r.stdout.length).toBe(16 * MiB);
    expect(text(r.stderr)).toBe('tail\n');
    expect(r.exitCode).toBe(3);
  });

  it('caps stderr at 16 MiB too', async () => {
    const r = await exec(main, ['sh', '-c', 'head -c 17000000 /dev/zero >&2; echo ok']);
    expect(r.stderr.length).toBe(16 * MiB);
    expect(text(r.stdout)).toBe('ok\n');
    expect(r.exitCode).toBe(0);
  });

  it('runs 10 concurrent ExecSyncs on one container independently', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => exec(main, ['sh', '-c', `echo out-${i}; sleep 0.3; echo err-${i} >&2; exit ${i}`])),
    );
    results.forEach((r, i) => {
      expect(text(r.stdout)).toBe(`out-${i}\n`);
      expect(text(r.stderr)).toBe(`err-${i}\n`);
      expect(r.exitCode).toBe(i);
    });
    expect(execDirs(main)).toEqual([]);
  });

  it('kills the process when the caller cancels', async () => {
    const ac = new AbortController();
    const call = exec(main, ['sleep', '30'], 0n, ac.signal).catch((e: unknown) => e);
    await eventually('sleep 30 to run', async () => (await psArgs(main)).includes('sleep 30'));
    ac.abort();
    await call;
    await eventually('sleep 30 to be killed', async () => !(await psArgs(main)).includes('sleep 30') && (await pids(main)).length === 1);
    await eventually('the exec FIFOs to be removed', async () => execDirs(main).length === 0);
  });

  it('reports an error for a command that cannot run, and cleans up', async () => {
    const err = await grpcError(exec(main, ['/no/such/binary']));
    expect(err.details).toMatch(/no such file|not found/i);
    expect(await pids(main)).toHaveLength(1);
    expect(execDirs(main)).toEqual([]);
  });

  it('answers NOT_FOUND for an unknown container and INVALID_ARGUMENT for an empty command', async () => {
    expect((await grpcError(exec('0123456789abcdef-no-such-container', ['true']))).code).toBe(Status.NOT_FOUND);
    expect((await grpcError(exec(main, []))).code).toBe(Status.INVALID_ARGUMENT);
    expect((await grpcError(exec(main, ['true'], -1n))).code).toBe(Status.INVALID_ARGUMENT);
  });

  it('answers FAILED_PRECONDITION for a container that is not running', async () => {
    const { containerId: created } = await crisp.runtime.createContainer({ podSandboxId: suite.podId, config: containerConfig('created', busybox, ['true']), sandboxConfig: suite.podConfig });
    const e1 = await grpcError(exec(created, ['true']));
    expect(e1.code).toBe(Status.FAILED_PRECONDITION);
    expect(e1.details).toContain('container is not running');

    const stopped = await startContainer('stopped', ['sleep', '3600']);
    await crisp.runtime.stopContainer({ containerId: stopped, timeout: 0n });
    const e2 = await grpcError(exec(stopped, ['true']));
    expect(e2.code).toBe(Status.FAILED_PRECONDITION);
    expect(e2.details).toContain('container is not running');
  });

  it('does not wait forever for output held open by a background process', async () => {
    const bg = await startContainer('bg', ['sleep', '3600']);
    const started = Date.now();
    const r = await exec(bg, ['sh', '-c', 'sleep 60 & echo bg']);
    expect(text(r.stdout)).toBe('bg\n');
    expect(r.exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(execDirs(bg)).toEqual([]);
    // With a timeout, the wait for the output ends with it: no DEADLINE_EXCEEDED, the process did exit.
    const t0 = Date.now();
    const r2 = await exec(bg, ['sh', '-c', 'sleep 60 & echo bg2'], 1n);
    expect(text(r2.stdout)).toBe('bg2\n');
    expect(r2.exitCode).toBe(0);
    // 1 s, plus up to 2 s the shim gives the held output in DeleteProcess.
    expect(Date.now() - t0).toBeLessThan(4_500);
  });

  it('leaves no FIFO directories behind and logged no clean-up failure', async () => {
    for (const id of [main, asUser]) expect(execDirs(id)).toEqual([]);
    const logs = await crisp.logs();
    expect(logs).not.toContain('could not delete the exec process');
    expect(logs).not.toContain('could not remove the exec FIFOs');
    expect(logs).not.toContain('could not kill the exec process');
  });
});
