// The e2e harness itself, against real things: a private containerd (Version, kill, restart,
// clean-up of shims and mounts), docker-registry with and without auth, and the fixture images
// pushed to it, pulled and run by containerd's own `ctr`.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { createChannel, createClient, Metadata } from 'nice-grpc';
import { task, tasks } from '@crisp/api';
import { containerdVersion, findShims, mountsUnder } from '@crisp/server';
import {
  busyboxImage,
  buildTar,
  FixtureName,
  hostPlatform,
  makeTempDir,
  multiarchImage,
  otherPlatform,
  PushedFixture,
  pushFixtures,
  RegistryClient,
  startRegistry,
  startTestContainerd,
  TestContainerd,
  TestRegistry,
  waitFor,
} from '@crisp/e2e';

jest.setTimeout(60_000);

function httpStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

async function taskStatus(address: string, namespace: string, id: string): Promise<{ status: task.Status; exitStatus: number }> {
  const channel = createChannel(`unix://${address}`);
  try {
    const client = createClient(tasks.TasksDefinition, channel);
    const res = await client.get({ containerId: id }, { metadata: Metadata({ 'containerd-namespace': namespace }) });
    return { status: res.process?.status ?? task.Status.UNKNOWN, exitStatus: res.process?.exitStatus ?? -1 };
  } finally {
    channel.close();
  }
}

async function ok(p: Promise<{ code: number | null; stdout: string; stderr: string }>): Promise<string> {
  const r = await p;
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

describe('fixture images', () => {
  it('are deterministic: same input, same bytes and digests', async () => {
    const entries = [
      { type: 'file' as const, path: 'b/x', data: Buffer.from('x') },
      { type: 'symlink' as const, path: 'a', target: '/b/x' },
    ];
    expect(buildTar(entries).equals(buildTar([...entries].reverse()))).toBe(true);
    const a = await busyboxImage();
    const b = await busyboxImage();
    expect(b.digest).toBe(a.digest);
    expect(a.config?.config).toEqual({ Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] });
    expect(a.config?.architecture).toBe(hostPlatform().architecture);
    const index = await multiarchImage();
    expect(index.platforms?.map((p) => p.architecture)).toEqual([hostPlatform().architecture, otherPlatform().architecture]);
    expect(index.children?.[0].digest).toBe(a.digest);
  });
});

describe('test containerd', () => {
  let cd: TestContainerd;

  beforeAll(async () => {
    cd = await startTestContainerd();
  });

  it('answers Version on a socket inside its temp dir', async () => {
    expect(cd.dir).toMatch(/^\/tmp\/crisp-e2e-/);
    expect(cd.address).toBe(`${cd.dir}/containerd.sock`);
    expect(cd.version).toMatch(/1\.6/);
    expect(await containerdVersion(cd.address)).toBe(cd.version);
    expect(fs.readFileSync(cd.configPath, 'utf8')).toContain('"io.containerd.grpc.v1.cri"');
    expect(fs.existsSync(cd.logPath)).toBe(true);
    expect(cd.pid).toBeGreaterThan(0);
  });

  it('can be killed and restarted with the same state', async () => {
    const before = cd.pid;
    await cd.kill();
    expect(cd.pid).toBeUndefined();
    await expect(containerdVersion(cd.address, 500)).rejects.toThrow();
    await cd.restart();
    expect(cd.pid).toBeGreaterThan(0);
    expect(cd.pid).not.toBe(before);
    expect(await containerdVersion(cd.address)).toBe(cd.version);
    await cd.stop();
    expect(cd.pid).toBeUndefined();
    expect(fs.existsSync(cd.address)).toBe(false); // a graceful stop removes the socket
    await cd.restart();
    expect(await containerdVersion(cd.address)).toBe(cd.version);
  });
});

describe('registry', () => {
  it('requires credentials when started with auth', async () => {
    const reg = await startRegistry({ auth: { username: 'alice', password: 's3cret' } });
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await httpStatus(`${reg.url}/v2/`)).toBe(401);
    expect(await httpStatus(`${reg.url}/v2/`, basic('alice', 'wrong'))).toBe(401);
    expect(await httpStatus(`${reg.url}/v2/`, basic('alice', 's3cret'))).toBe(200);
    await expect(pushFixtures({ host: reg.host }, ['pause'])).rejects.toThrow(/401/);
    const pushed = await pushFixtures(reg, ['pause']);
    const client = new RegistryClient(reg);
    const got = await client.getManifest('crisp-test/pause', '3.10');
    client.close();
    expect(got.status).toBe(200);
    expect(got.digest).toBe(pushed.pause.digest);
    await reg.stop();
  });
});

describe('fixtures in containerd', () => {
  let cd: TestContainerd;
  let reg: TestRegistry;
  let pushed: Record<FixtureName, PushedFixture>;
  const pull = (ref: string, extra: string[] = []) => ok(cd.ctr(['images', 'pull', '--plain-http', ...extra, ref], { timeoutMs: 60_000 }));

  beforeAll(async () => {
    [cd, reg] = await Promise.all([startTestContainerd(), startRegistry()]);
    expect(await httpStatus(`${reg.url}/v2/`)).toBe(200);
    pushed = await pushFixtures(reg);
  });

  it('pushes all five with stable names, retrievable by tag and digest', async () => {
    expect(Object.keys(pushed).sort()).toEqual(['big', 'busybox', 'multiarch', 'nonroot', 'pause']);
    expect(pushed.pause.reference).toBe(`${reg.host}/crisp-test/pause:3.10`);
    const client = new RegistryClient(reg);
    try {
      for (const p of Object.values(pushed)) {
        const byTag = await client.getManifest(p.repository, p.tag);
        expect(byTag.status).toBe(200);
        expect(byTag.digest).toBe(p.digest);
        expect(byTag.mediaType).toBe(p.image.mediaType);
      }
      // Pushing again skips every blob (HEAD finds them) and gives the same digests.
      const again = await pushFixtures(reg, ['busybox', 'big']);
      expect(again.big.digest).toBe(pushed.big.digest);
    } finally {
      client.close();
    }
    const bigLayers = pushed.big.image.layers;
    expect(bigLayers).toHaveLength(4);
    const randomBytes = bigLayers.slice(1).reduce((n, l) => n + l.size, 0);
    expect(randomBytes).toBeGreaterThan(60 * 1024 * 1024);
  });

  it('busybox pulls and runs: echo hello', async () => {
    await pull(pushed.busybox.reference);
    const out = await ok(cd.ctr(['run', '--rm', pushed.busybox.reference, 't1', 'echo', 'hello']));
    expect(out.trim()).toBe('hello');
    const ls = await ok(cd.ctr(['run', '--rm', pushed.busybox.reference, 't1b', 'sh', '-c', 'ls /bin/sh /usr/bin/env && grep ^app: /etc/passwd']));
    expect(ls).toContain('app:x:1000:1000');
  });

  it('nonroot runs as uid 1000 with its groups', async () => {
    await pull(pushed.nonroot.reference);
    const out = await ok(cd.ctr(['run', '--rm', pushed.nonroot.reference, 't-nonroot']));
    expect(out).toMatch(/uid=1000\(app\) gid=1000\(app\)/);
    expect(out).toContain('2000(extra)');
  });

  it('pause runs detached and exits 0 on SIGTERM', async () => {
    await pull(pushed.pause.reference);
    await ok(cd.ctr(['run', '-d', pushed.pause.reference, 't-pause']));
    const running = await taskStatus(cd.address, 'crisp-test', 't-pause');
    expect(running.status).toBe(task.Status.RUNNING);
    await ok(cd.ctr(['task', 'kill', '--signal', 'SIGTERM', 't-pause']));
    const stopped = await waitFor('pause to exit', async () => {
      const s = await taskStatus(cd.address, 'crisp-test', 't-pause');
      return s.status === task.Status.STOPPED ? s : undefined;
    });
    expect(stopped.exitStatus).toBe(0);
    await ok(cd.ctr(['task', 'delete', 't-pause']));
    await ok(cd.ctr(['containers', 'delete', 't-pause']));
  });

  it('multiarch pulls this platform from the index only', async () => {
    const index = pushed.multiarch.image;
    const [mine, other] = index.children!;
    await pull(pushed.multiarch.reference);
    const content = await ok(cd.ctr(['content', 'ls', '-q']));
    expect(content).toContain(mine.layers[0].digest);
    expect(content).not.toContain(other.layers[0].digest);
    const images = await ok(cd.ctr(['images', 'ls']));
    expect(images).toContain(pushed.multiarch.reference);
    expect(images).toContain(index.digest);
    const out = await ok(cd.ctr(['run', '--rm', pushed.multiarch.reference, 't-multi', 'echo', 'multi']));
    expect(out.trim()).toBe('multi');
  });

  it('cleanupAll kills containers through the API while containerd runs', async () => {
    await ok(cd.ctr(['run', '-d', pushed.busybox.reference, 't-sleeper1', 'sleep', '1000']));
    expect(findShims(cd.address).length).toBe(1);
    await cd.cleanupAll();
    expect(cd.pid).toBeUndefined();
    expect(findShims(cd.address)).toEqual([]);
    expect(mountsUnder([cd.dir])).toEqual([]);
    expect(fs.existsSync('/run/containerd/runc/crisp-test/t-sleeper1')).toBe(false);
    await cd.restart();
    expect((await taskStatus(cd.address, 'crisp-test', 't-sleeper1').catch(() => undefined))?.status).toBeUndefined();
  });

  it('cleanup gets shims and containers that outlived a killed containerd, unmounts, removes the dir', async () => {
    await ok(cd.ctr(['run', '-d', pushed.busybox.reference, 't-sleeper2', 'sleep', '1000']));
    await ok(cd.ctr(['run', '-d', pushed.pause.reference, 't-pause2']));
    const shims = findShims(cd.address);
    expect(shims).toHaveLength(2);
    expect(mountsUnder([cd.dir]).length).toBeGreaterThanOrEqual(2);
    await cd.kill();
    expect(findShims(cd.address).sort()).toEqual(shims.sort());
    await cd.cleanup();
    expect(findShims(cd.address)).toEqual([]);
    expect(mountsUnder([cd.dir])).toEqual([]);
    expect(fs.existsSync(cd.dir)).toBe(false);
    expect(fs.existsSync('/run/containerd/runc/crisp-test/t-sleeper2')).toBe(false);
    expect(fs.existsSync('/run/containerd/runc/crisp-test/t-pause2')).toBe(false);
  });
});

describe('temp dirs', () => {
  it('live under /tmp with the crisp-e2e- prefix', () => {
    const d = makeTempDir();
    expect(d).toMatch(/^\/tmp\/crisp-e2e-/);
    expect(fs.statSync(d).isDirectory()).toBe(true);
  });
});
