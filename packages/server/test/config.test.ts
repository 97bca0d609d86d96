import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import { ConfigError, DEFAULT_CONFIG, configToRaw, validateConfig } from '../src/config/schema';
import { defaultConfigToml, loadConfig } from '../src/config/load';
import { tempDir } from './temp-dir';

const tmp = tempDir('crisp-config-');
function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('validateConfig', () => {
  it('gives the defaults for an empty file', () => {
    expect(validateConfig({})).toEqual(DEFAULT_CONFIG);
  });

  it('round-trips the default config through TOML', () => {
    const raw = parse(defaultConfigToml()) as Record<string, unknown>;
    expect(validateConfig(raw)).toEqual(DEFAULT_CONFIG);
    expect(configToRaw(DEFAULT_CONFIG)).toEqual(raw);
  });

  it.each([
    [{ listen: 5 }, 'listen', 'must be a string'],
    [{ listen: 'relative.sock' }, 'listen', 'absolute path'],
    [{ log_level: 'loud' }, 'log_level', 'must be one of'],
    [{ cgroup_driver: 'systemdd' }, 'cgroup_driver', 'systemd, cgroupfs'],
    [{ containerd: { adress: '/x' } }, 'containerd.adress', 'unknown key'],
    [{ containerd: 'x' }, 'containerd', 'must be a table'],
    [{ containerd: { namespace: 'bad ns' } }, 'containerd.namespace', 'not a valid containerd namespace'],
    [{ registry: { max_concurrent_downloads: 0 } }, 'registry.max_concurrent_downloads', 'between 1 and 64'],
    [{ registry: { max_concurrent_downloads: 1.5 } }, 'registry.max_concurrent_downloads', 'must be an integer'],
    [{ cni: { bin_dirs: '/opt/cni/bin' } }, 'cni.bin_dirs', 'list of strings'],
    [{ streaming: { tls_cert_file: '/a.pem' } }, 'streaming', 'set together'],
    [{ runtimes: { Kata_: {} } }, 'runtimes.Kata_', 'DNS label'],
    [{ runtimes: { kata: { runtime_type: 'io.containerd.kata.v2', typo: 1 } } }, 'runtimes.kata.typo', 'unknown key'],
    [{ default_runtime_handler: 'kata' }, 'default_runtime_handler', 'not a configured runtime'],
    [{ surprise: true }, 'surprise', 'unknown key'],
  ])('rejects %j naming %s', (raw, key, text) => {
    let err: unknown;
    try {
      validateConfig(raw as Record<string, unknown>);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe(key);
    expect((err as ConfigError).message).toContain(text);
  });

  it('adds runtime handlers to the default one', () => {
    const cfg = validateConfig({ runtimes: { kata: { runtime_type: 'io.containerd.kata.v2', systemd_cgroup: true } } });
    expect(cfg.runtimes['runc']).toEqual(DEFAULT_CONFIG.runtimes['runc']);
    expect(cfg.runtimes['kata']).toEqual({ runtimeType: 'io.containerd.kata.v2', binaryName: '', systemdCgroup: true });
  });
});

describe('loadConfig', () => {
  it('layers file < env < flags', async () => {
    const f = file(
      'layers.toml',
      'log_level = "warn"\nstate_dir = "/var/lib/from-file"\n[containerd]\nnamespace = "from-file"\n',
    );
    const loaded = await loadConfig(
      { configFile: f, stateDir: '/var/lib/from-flag' },
      { CRISP_STATE_DIR: '/var/lib/from-env', CRISP_CONTAINERD_NAMESPACE: 'from-env' },
    );
    expect(loaded.file).toBe(f);
    expect(loaded.config.logLevel).toBe('warn');
    expect(loaded.config.stateDir).toBe('/var/lib/from-flag');
    expect(loaded.config.containerd.namespace).toBe('from-env');
    expect(loaded.containerdAddressConfigured).toBe(false);
  });

  it('knows when the containerd address was configured', async () => {
    const f = file('addr.toml', '[containerd]\naddress = "/run/other.sock"\n');
    expect((await loadConfig({ configFile: f }, {})).containerdAddressConfigured).toBe(true);
    const f2 = file('noaddr.toml', '');
    expect((await loadConfig({ configFile: f2 }, {})).containerdAddressConfigured).toBe(false);
    expect((await loadConfig({ configFile: f2, containerdAddress: '/x.sock' }, {})).containerdAddressConfigured).toBe(true);
  });

  it('reports TOML syntax errors with their position', async () => {
    const f = file('bad.toml', 'listen = "/a"\nlog_level = \n');
    await expect(loadConfig({ configFile: f }, {})).rejects.toThrow(/bad\.toml: invalid TOML at line 2/);
  });

  it('fails on a missing explicit config file', async () => {
    await expect(loadConfig({ configFile: path.join(tmp, 'absent.toml') }, {})).rejects.toThrow(/cannot read config file/);
  });

  it('validates flags like file values', async () => {
    await expect(loadConfig({ configFile: file('e.toml', ''), logLevel: 'chatty' }, {})).rejects.toThrow(/log_level: must be one of/);
  });
});
