// The CNI executor against fake plugins: shell scripts that log their stdin and CNI_* environment
// to files, then print a canned answer and exit with a canned status.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../src/log';
import { parseCniConfig } from '../src/network/cni-config';
import { CniNetwork, CniPluginError, CniRuntimeConf, ensureLoopback, execPlugin, pluginStdin } from '../src/network/cni';

const logger = createLogger('silent');

interface Call {
  plugin: string;
  command: string;
  stdin: Record<string, unknown>;
  env: Record<string, string>;
}

class FakePlugins {
  readonly root = mkdtempSync(path.join(os.tmpdir(), 'crisp-cni-fake-'));
  readonly bin = path.join(this.root, 'bin');
  readonly log = path.join(this.root, 'log');
  readonly cache = path.join(this.root, 'cache');

  constructor(names: string[]) {
    mkdirSync(this.bin);
    mkdirSync(this.log);
    for (const n of names) this.install(n);
  }

  install(name: string): void {
    const d = this.log;
    const f = path.join(this.bin, name);
    writeFileSync(
      f,
      `#!/bin/sh
stdin=$(cat)
echo "${name} $CNI_COMMAND" >> ${d}/calls
i=$(wc -l < ${d}/calls | tr -d ' ')
printf '%s' "$stdin" > ${d}/$i.stdin
env | grep '^CNI_' > ${d}/$i.env
base=${d}/${name}.$CNI_COMMAND
if [ -f $base.hang ]; then echo $$ > $base.pid; sleep 30 & echo $! > $base.childpid; wait; fi
[ -f $base.out ] && cat $base.out
[ -f $base.err ] && cat $base.err >&2
[ -f $base.rc ] && exit $(cat $base.rc)
exit 0
`,
    );
    chmodSync(f, 0o755);
  }

  /** What `plugin` prints and how it exits for `command`. */
  answer(plugin: string, command: string, a: { out?: unknown; rc?: number; stderr?: string; hang?: boolean }): void {
    const base = path.join(this.log, `${plugin}.${command}`);
    if (a.out !== undefined) writeFileSync(`${base}.out`, typeof a.out === 'string' ? a.out : JSON.stringify(a.out));
    if (a.rc !== undefined) writeFileSync(`${base}.rc`, String(a.rc));
    if (a.stderr !== undefined) writeFileSync(`${base}.err`, a.stderr);
    if (a.hang) writeFileSync(`${base}.hang`, '');
  }

  pid(plugin: string, command: string, which: 'pid' | 'childpid'): number {
    return Number(readFileSync(path.join(this.log, `${plugin}.${command}.${which}`), 'utf8'));
  }

  calls(): Call[] {
    const file = path.join(this.log, 'calls');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line, i) => {
        const [plugin, command] = line.split(' ') as [string, string];
        const env: Record<string, string> = {};
        for (const l of readFileSync(path.join(this.log, `${i + 1}.env`), 'utf8').split('\n')) {
          const eq = l.indexOf('=');
          if (eq > 0) env[l.slice(0, eq)] = l.slice(eq + 1);
        }
        return { plugin, command, stdin: JSON.parse(readFileSync(path.join(this.log, `${i + 1}.stdin`), 'utf8')), env };
      });
  }

  clearCalls(): void {
    rmSync(path.join(this.log, 'calls'), { force: true });
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

const result = (ip: string, extra: Record<string, unknown> = {}) => ({
  cniVersion: '1.0.0',
  interfaces: [{ name: 'br0' }, { name: 'eth0', sandbox: '/x/ns' }],
  ips: [{ address: `${ip}/24`, gateway: '10.1.0.1', interface: 1 }],
  ...extra,
});

const rt = (over: Partial<CniRuntimeConf> = {}): CniRuntimeConf => ({
  containerId: 'abc123',
  netns: '/x/ns',
  ifName: 'eth0',
  args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web', K8S_POD_INFRA_CONTAINER_ID: 'abc123', K8S_POD_UID: 'u-1' },
  ...over,
});

function network(fake: FakePlugins, list: Record<string, unknown>, opts: { timeoutMs?: number; loopback?: boolean } = {}): CniNetwork {
  const config = parseCniConfig('/etc/cni/net.d/10-test.conflist', JSON.stringify(list));
  return new CniNetwork(config, [path.join(fake.root, 'nowhere'), fake.bin], fake.cache, logger, { loopback: false, ...opts });
}

const threePlugins = {
  cniVersion: '1.0.0',
  name: 'testnet',
  plugins: [
    { type: 'main', bridge: 'cni0', ipam: { type: 'host-local' } },
    { type: 'ports', capabilities: { portMappings: true }, snat: true },
    { type: 'shaper', capabilities: { bandwidth: true, somethingElse: false } },
  ],
};

const caps = {
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  bandwidth: { ingressRate: 1000, ingressBurst: 100, egressRate: 2000, egressBurst: 200 },
  ips: ['10.1.0.9'],
  somethingElse: 'x',
};

describe('CniNetwork', () => {
  let fake: FakePlugins;
  beforeEach(() => {
    fake = new FakePlugins(['main', 'ports', 'shaper', 'loopback']);
  });
  afterEach(() => fake.cleanup());

  it('ADD runs the plugins in order, chaining prevResult and filtering runtimeConfig by capabilities', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'ADD', { out: result('10.1.0.5', { dns: { nameservers: ['10.1.0.1'] } }) });
    fake.answer('shaper', 'ADD', { out: result('10.1.0.5', { dns: { nameservers: ['10.1.0.2'] } }) });
    const net = network(fake, threePlugins);
    const r = await net.add(rt({ capabilityArgs: caps }));
    expect(r.dns).toEqual({ nameservers: ['10.1.0.2'] });
    expect(r.ips).toEqual([{ address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1 }]);

    const calls = fake.calls();
    expect(calls.map((c) => `${c.plugin} ${c.command}`)).toEqual(['main ADD', 'ports ADD', 'shaper ADD']);
    expect(calls[0]!.stdin).toEqual({ type: 'main', bridge: 'cni0', ipam: { type: 'host-local' }, name: 'testnet', cniVersion: '1.0.0' });
    expect(calls[1]!.stdin).toEqual({
      type: 'ports',
      capabilities: { portMappings: true },
      snat: true,
      name: 'testnet',
      cniVersion: '1.0.0',
      prevResult: result('10.1.0.5'),
      runtimeConfig: { portMappings: caps.portMappings },
    });
    expect(calls[2]!.stdin['prevResult']).toEqual(result('10.1.0.5', { dns: { nameservers: ['10.1.0.1'] } }));
    expect(calls[2]!.stdin['runtimeConfig']).toEqual({ bandwidth: caps.bandwidth });
    for (const c of calls) {
      expect(c.env).toEqual({
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'abc123',
        CNI_NETNS: '/x/ns',
        CNI_IFNAME: 'eth0',
        CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1',
        CNI_PATH: `${path.join(fake.root, 'nowhere')}:${fake.bin}`,
      });
    }
  });

  it('caches the last result libcni-style and DEL runs in reverse with it, then drops the cache', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'ADD', { out: result('10.1.0.5') });
    fake.answer('shaper', 'ADD', { out: result('10.1.0.6') });
    const net = network(fake, threePlugins);
    await net.add(rt({ capabilityArgs: caps }));

    const file = path.join(fake.cache, 'results', 'testnet-abc123-eth0');
    const entry = JSON.parse(readFileSync(file, 'utf8'));
    expect(entry).toMatchObject({
      kind: 'cniCacheV1',
      containerId: 'abc123',
      ifName: 'eth0',
      networkName: 'testnet',
      netns: '/x/ns',
      capabilityArgs: caps,
      result: result('10.1.0.6'),
    });
    expect(entry.cniArgs[1]).toEqual(['K8S_POD_NAMESPACE', 'default']);
    expect(JSON.parse(Buffer.from(entry.config, 'base64').toString())).toEqual(threePlugins);
    expect((await net.cachedResult('abc123', 'eth0'))?.result).toEqual(result('10.1.0.6'));

    fake.clearCalls();
    // No capability args on DEL: the cached ones are used (portmap needs them to find its rules).
    await net.del(rt());
    const calls = fake.calls();
    expect(calls.map((c) => `${c.plugin} ${c.command}`)).toEqual(['shaper DEL', 'ports DEL', 'main DEL']);
    for (const c of calls) expect(c.stdin['prevResult']).toEqual(result('10.1.0.6'));
    expect(calls[1]!.stdin['runtimeConfig']).toEqual({ portMappings: caps.portMappings });
    // The netns path is not a namespace (any more): plugins get an empty CNI_NETNS.
    expect(calls[0]!.env['CNI_NETNS']).toBe('');
    expect(calls[0]!.env['CNI_COMMAND']).toBe('DEL');
    expect(existsSync(file)).toBe(false);

    // Again: no cache, no prevResult, still success.
    fake.clearCalls();
    await net.del(rt());
    expect(fake.calls().map((c) => c.stdin['prevResult'])).toEqual([undefined, undefined, undefined]);
  });

  it('DEL uses the config the ADD ran with, even if the network config changed since', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'ADD', { out: result('10.1.0.5') });
    fake.answer('shaper', 'ADD', { out: result('10.1.0.5') });
    await network(fake, threePlugins).add(rt());
    fake.clearCalls();
    await network(fake, { cniVersion: '1.0.0', name: 'testnet', plugins: [{ type: 'main' }] }).del(rt());
    expect(fake.calls().map((c) => c.plugin)).toEqual(['shaper', 'ports', 'main']);
  });

  it('keeps the cache when DEL fails, stopping at the failing plugin', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'ADD', { out: result('10.1.0.5') });
    fake.answer('shaper', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'DEL', { out: { cniVersion: '1.0.0', code: 999, msg: 'iptables is busy' }, rc: 1 });
    const net = network(fake, threePlugins);
    await net.add(rt());
    fake.clearCalls();
    await expect(net.del(rt())).rejects.toThrow('CNI plugin ports failed (DEL): iptables is busy');
    expect(fake.calls().map((c) => c.plugin)).toEqual(['shaper', 'ports']);
    expect(await net.cachedResult('abc123', 'eth0')).toBeDefined();
  });

  it('a failed ADD runs DEL for the whole list and rethrows the ADD error', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'ADD', { out: { cniVersion: '1.0.0', code: 7, msg: 'port 8080 taken', details: 'by pod x' }, rc: 1 });
    const net = network(fake, threePlugins);
    const err = await net.add(rt({ capabilityArgs: caps })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginError);
    expect(err).toMatchObject({ plugin: 'ports', command: 'ADD', failure: 'failed', code: 7, msg: 'port 8080 taken', details: 'by pod x' });
    expect((err as Error).message).toBe('CNI plugin ports failed (ADD): port 8080 taken: by pod x');
    const calls = fake.calls();
    expect(calls.map((c) => `${c.plugin} ${c.command}`)).toEqual(['main ADD', 'ports ADD', 'shaper DEL', 'ports DEL', 'main DEL']);
    // The DELs get the last good result and the capability args.
    expect(calls[2]!.stdin['prevResult']).toEqual(result('10.1.0.5'));
    expect(calls[3]!.stdin['runtimeConfig']).toEqual({ portMappings: caps.portMappings });
    expect(existsSync(path.join(fake.cache, 'results'))).toBe(false);
  });

  it('a failing cleanup DEL does not hide the ADD error', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'ADD', { out: { code: 11, msg: 'try again later' }, rc: 1 });
    fake.answer('main', 'DEL', { rc: 1, stderr: 'boom' });
    await expect(network(fake, threePlugins).add(rt())).rejects.toThrow('CNI plugin ports failed (ADD): try again later');
  });

  it('a result the parser rejects fails ADD (and cleans up)', async () => {
    fake.answer('main', 'ADD', { out: { cniVersion: '1.0.0', ips: [{ address: 'not-an-ip' }] } });
    const net = network(fake, { cniVersion: '1.0.0', name: 'one', plugins: [{ type: 'main' }] });
    await expect(net.add(rt())).rejects.toThrow(/CIDR/);
    expect(fake.calls().map((c) => c.command)).toEqual(['ADD', 'DEL']);
  });

  it('a plugin printing nothing on ADD passes the previous result through', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('shaper', 'ADD', { out: result('10.1.0.5') });
    const r = await network(fake, threePlugins).add(rt());
    expect(r.ips[0]!.address).toBe('10.1.0.5/24');
    expect(fake.calls()[2]!.stdin['prevResult']).toEqual(result('10.1.0.5'));
  });

  it('names a missing plugin', async () => {
    const net = network(fake, { cniVersion: '1.0.0', name: 'one', plugins: [{ type: 'flannel' }] });
    await expect(net.add(rt())).rejects.toMatchObject({ plugin: 'flannel', failure: 'not-found' });
  });

  it('0.3.1 lists: no prevResult on DEL, no CHECK', async () => {
    const list = { cniVersion: '0.3.1', name: 'old', plugins: [{ type: 'main' }, { type: 'ports' }] };
    fake.answer('main', 'ADD', { out: { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.1.0.7/24' }] } });
    fake.answer('ports', 'ADD', { out: { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.1.0.7/24' }] } });
    const net = network(fake, list);
    const r = await net.add(rt());
    expect(r.ips).toEqual([{ address: '10.1.0.7/24' }]);
    expect(fake.calls()[1]!.stdin['prevResult']).toEqual({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.1.0.7/24' }] });
    expect(await net.check(rt())).toBe(false);
    fake.clearCalls();
    await net.del(rt());
    expect(fake.calls().map((c) => [c.plugin, c.command, c.stdin['prevResult']])).toEqual([
      ['ports', 'DEL', undefined],
      ['main', 'DEL', undefined],
    ]);
  });

  it('CHECK runs in order with the cached result; skipped with disableCheck; needs a prior ADD', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    fake.answer('ports', 'ADD', { out: result('10.1.0.8') });
    const list = { cniVersion: '0.4.0', name: 'chk', plugins: [{ type: 'main' }, { type: 'ports' }] };
    const net = network(fake, list);
    await expect(net.check(rt())).rejects.toThrow(/no cached ADD result/);
    await net.add(rt());
    fake.clearCalls();
    expect(await net.check(rt())).toBe(true);
    const calls = fake.calls();
    expect(calls.map((c) => `${c.plugin} ${c.command}`)).toEqual(['main CHECK', 'ports CHECK']);
    for (const c of calls) expect(c.stdin['prevResult']).toEqual(result('10.1.0.8'));
    expect(calls[0]!.env['CNI_NETNS']).toBe('/x/ns');

    fake.answer('ports', 'CHECK', { out: { code: 4, msg: 'eth0 has no address' }, rc: 1 });
    await expect(net.check(rt())).rejects.toThrow('CNI plugin ports failed (CHECK): eth0 has no address');

    const off = network(fake, { ...list, name: 'off', disableCheck: true });
    await off.add(rt());
    fake.clearCalls();
    expect(await off.check(rt())).toBe(false);
    expect(fake.calls()).toEqual([]);
  });

  it('brings lo up with the loopback plugin first unless the list has its own', async () => {
    fake.answer('main', 'ADD', { out: result('10.1.0.5') });
    await network(fake, { cniVersion: '1.0.0', name: 'one', plugins: [{ type: 'main' }] }, { loopback: true }).add(rt());
    const calls = fake.calls();
    expect(calls.map((c) => `${c.plugin} ${c.command}`)).toEqual(['loopback ADD', 'main ADD']);
    expect(calls[0]!.stdin).toEqual({ cniVersion: '0.3.1', name: 'cni-loopback', type: 'loopback' });
    expect(calls[0]!.env).toMatchObject({ CNI_IFNAME: 'lo', CNI_NETNS: '/x/ns', CNI_CONTAINERID: 'abc123' });

    fake.clearCalls();
    fake.answer('loopback', 'ADD', { out: { cniVersion: '1.0.0', interfaces: [{ name: 'lo', sandbox: '/x/ns' }], ips: [] } });
    const own = { cniVersion: '1.0.0', name: 'two', plugins: [{ type: 'loopback' }, { type: 'main' }] };
    await network(fake, own, { loopback: true }).add(rt());
    expect(fake.calls().map((c) => `${c.plugin} ${c.command}`)).toEqual(['loopback ADD', 'main ADD']);

    fake.clearCalls();
    await ensureLoopback('/x/other', [fake.bin]);
    expect(fake.calls()[0]!.env).toMatchObject({ CNI_IFNAME: 'lo', CNI_NETNS: '/x/other', CNI_CONTAINERID: 'crisp-loopback' });
  });

  it('a failing loopback fails ADD before the list runs', async () => {
    fake.answer('loopback', 'ADD', { out: { code: 100, msg: 'no netns' }, rc: 1 });
    const net = network(fake, { cniVersion: '1.0.0', name: 'one', plugins: [{ type: 'main' }] }, { loopback: true });
    await expect(net.add(rt())).rejects.toThrow('CNI plugin loopback failed (ADD): no netns');
    expect(fake.calls().map((c) => c.plugin)).toEqual(['loopback']);
  });

  it('rejects container ids and interface names that cannot be cache file names', async () => {
    const net = network(fake, threePlugins);
    await expect(net.add(rt({ containerId: '../etc' }))).rejects.toThrow(/invalid container id/);
    await expect(net.del(rt({ ifName: 'a/b' }))).rejects.toThrow(/invalid interface name/);
    await expect(net.check(rt({ ifName: 'much-too-long-name' }))).rejects.toThrow(/invalid interface name/);
    expect(() => network(fake, { ...threePlugins, name: 'bad/name' })).toThrow(/invalid CNI network name/);
    expect(fake.calls()).toEqual([]);
  });

  it('ignores a corrupt cache entry on DEL', async () => {
    mkdirSync(path.join(fake.cache, 'results'), { recursive: true });
    writeFileSync(path.join(fake.cache, 'results', 'testnet-abc123-eth0'), '{"kind":');
    await network(fake, threePlugins).del(rt());
    expect(fake.calls().map((c) => c.stdin['prevResult'])).toEqual([undefined, undefined, undefined]);
    expect(readdirSync(path.join(fake.cache, 'results'))).toEqual([]);
  });
});

describe('execPlugin', () => {
  let fake: FakePlugins;
  beforeEach(() => {
    fake = new FakePlugins(['p']);
  });
  afterEach(() => fake.cleanup());

  const req = (over: Partial<Parameters<typeof execPlugin>[0]> = {}) => ({
    plugin: 'p',
    file: path.join(fake.bin, 'p'),
    command: 'ADD' as const,
    stdin: { cniVersion: '1.0.0', name: 'n', type: 'p' },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: 'ADD' },
    timeoutMs: 10_000,
    ...over,
  });

  // Gone, or a zombie: a killed grandchild is reparented and waits there to be reaped.
  const gone = (pid: number) => {
    try {
      return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return true;
    }
  };

  it('falls back to stderr and the exit status for errors that are not JSON', async () => {
    fake.answer('p', 'ADD', { rc: 3, stderr: 'segfault-ish' });
    await expect(execPlugin(req())).rejects.toThrow('CNI plugin p failed (ADD): exit status 3: segfault-ish');
  });

  it('rejects output that is not a JSON object', async () => {
    fake.answer('p', 'ADD', { out: 'hello' });
    await expect(execPlugin(req())).rejects.toMatchObject({ failure: 'bad-output' });
  });

  it('resolves undefined for empty output', async () => {
    await expect(execPlugin(req())).resolves.toBeUndefined();
  });

  it('kills a hanging plugin, with its children, after the timeout', async () => {
    fake.answer('p', 'ADD', { hang: true });
    const started = Date.now();
    await expect(execPlugin(req({ timeoutMs: 500 }))).rejects.toMatchObject({ failure: 'timeout', message: 'CNI plugin p failed (ADD): timed out after 500 ms' });
    expect(Date.now() - started).toBeLessThan(5_000);
    const pid = fake.pid('p', 'ADD', 'pid');
    const child = fake.pid('p', 'ADD', 'childpid');
    await new Promise((r) => setTimeout(r, 200));
    expect(gone(pid)).toBe(true);
    expect(gone(child)).toBe(true);
  });

  it('kills the plugin when the signal aborts, and does not start one on an aborted signal', async () => {
    fake.answer('p', 'ADD', { hang: true });
    const ac = new AbortController();
    const p = execPlugin(req({ signal: ac.signal }));
    // Wait until the script recorded its pid, so that the kill hits a running plugin.
    const pidFile = path.join(fake.log, 'p.ADD.childpid');
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await expect(p).rejects.toMatchObject({ failure: 'aborted' });
    await new Promise((r) => setTimeout(r, 200));
    expect(gone(fake.pid('p', 'ADD', 'childpid'))).toBe(true);

    fake.clearCalls();
    await expect(execPlugin(req({ signal: AbortSignal.abort() }))).rejects.toMatchObject({ failure: 'aborted' });
    expect(fake.calls()).toEqual([]);
  });

  it('an aborted ADD still cleans up with DEL', async () => {
    const f2 = new FakePlugins(['main', 'ports']);
    try {
      f2.answer('main', 'ADD', { out: result('10.1.0.5') });
      f2.answer('ports', 'ADD', { hang: true });
      const net = network(f2, { cniVersion: '1.0.0', name: 'ab', plugins: [{ type: 'main' }, { type: 'ports' }] });
      const ac = new AbortController();
      const p = net.add(rt(), ac.signal);
      const pidFile = path.join(f2.log, 'ports.ADD.childpid');
      for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
      ac.abort();
      await expect(p).rejects.toMatchObject({ plugin: 'ports', failure: 'aborted' });
      expect(f2.calls().map((c) => `${c.plugin} ${c.command}`)).toEqual(['main ADD', 'ports ADD', 'ports DEL', 'main DEL']);
    } finally {
      f2.cleanup();
    }
  });
});

describe('pluginStdin', () => {
  it('keeps a plugin\'s own runtimeConfig when no capability applies, and overrides name and version', () => {
    const p = { type: 'x', name: 'inner', cniVersion: '0.3.1', runtimeConfig: { a: 1 }, capabilities: { portMappings: true } };
    expect(pluginStdin(p, 'outer', '1.0.0', undefined, {})).toEqual({ ...p, name: 'outer', cniVersion: '1.0.0' });
    expect(pluginStdin(p, 'outer', '1.0.0', undefined, { portMappings: [] })).toEqual({
      ...p,
      name: 'outer',
      cniVersion: '1.0.0',
      runtimeConfig: { portMappings: [] },
    });
  });
});
