import { parse } from 'smol-toml';
import {
  containerdConfigToml,
  containerdPaths,
  MAX_UNIX_SOCKET_PATH,
  SOCKET_FALLBACK_ROOT,
} from '../src/devmode';

type Table = Record<string, unknown>;
const table = (v: unknown): Table => v as Table;

describe('managed containerd config', () => {
  const dir = '/tmp/crisp-e2e-abc';

  it('puts root, state and all sockets under dir', () => {
    const cfg = parse(containerdConfigToml({ dir }));
    expect(cfg.version).toBe(2);
    expect(cfg.root).toBe('/tmp/crisp-e2e-abc/root');
    expect(cfg.state).toBe('/tmp/crisp-e2e-abc/state');
    expect(table(cfg.grpc).address).toBe('/tmp/crisp-e2e-abc/containerd.sock');
    expect(table(cfg.ttrpc).address).toBe('/tmp/crisp-e2e-abc/containerd.sock.ttrpc');
    expect(table(cfg.debug).address).toBe('/tmp/crisp-e2e-abc/debug.sock');
    expect(table(cfg.debug).level).toBe('info');
    const opt = table(table(cfg.plugins)['io.containerd.internal.v1.opt']);
    expect(opt.path).toBe('/tmp/crisp-e2e-abc/opt');
  });

  it('disables the CRI plugin by default and has no CRI section', () => {
    const cfg = parse(containerdConfigToml({ dir }));
    expect(cfg.disabled_plugins).toContain('io.containerd.grpc.v1.cri');
    expect(cfg.disabled_plugins).toContain('io.containerd.snapshotter.v1.devmapper');
    expect(table(cfg.plugins)['io.containerd.grpc.v1.cri']).toBeUndefined();
  });

  it('enables and configures the CRI plugin when asked', () => {
    const cfg = parse(
      containerdConfigToml({
        dir,
        enableCri: true,
        logLevel: 'debug',
        criConfig: {
          cniBinDir: '/usr/lib/cni',
          cniConfDir: '/tmp/x/net.d',
          sandboxImage: '127.0.0.1:5000/crisp-test/pause:3.10',
          insecureRegistries: ['127.0.0.1:5000'],
        },
      }),
    );
    expect(cfg.disabled_plugins).not.toContain('io.containerd.grpc.v1.cri');
    expect(table(cfg.debug).level).toBe('debug');
    const cri = table(table(cfg.plugins)['io.containerd.grpc.v1.cri']);
    expect(cri.sandbox_image).toBe('127.0.0.1:5000/crisp-test/pause:3.10');
    expect(cri.stream_server_address).toBe('127.0.0.1');
    expect(cri.restrict_oom_score_adj).toBe(true);
    expect(table(cri.cni)).toEqual({ bin_dir: '/usr/lib/cni', conf_dir: '/tmp/x/net.d' });
    const runc = table(table(table(cri.containerd).runtimes).runc);
    expect(runc.runtime_type).toBe('io.containerd.runc.v2');
    expect(table(runc.options).SystemdCgroup).toBe(false);
    const mirrors = table(table(cri.registry).mirrors);
    expect(table(mirrors['127.0.0.1:5000']).endpoint).toEqual(['http://127.0.0.1:5000']);
  });

  it('refuses enableCri without criConfig', () => {
    expect(() => containerdConfigToml({ dir, enableCri: true })).toThrow(/criConfig/);
  });

  it('keeps extra disabled plugins and de-duplicates', () => {
    const cfg = parse(containerdConfigToml({ dir, disabledPlugins: ['io.containerd.snapshotter.v1.zfs', 'io.containerd.x'] }));
    const disabled = cfg.disabled_plugins as string[];
    expect(disabled.filter((d) => d === 'io.containerd.snapshotter.v1.zfs')).toHaveLength(1);
    expect(disabled).toContain('io.containerd.x');
  });

  it('escapes paths as TOML strings', () => {
    const odd = '/tmp/with "quote" and \\ back';
    const cfg = parse(containerdConfigToml({ dir: odd }));
    expect(cfg.root).toBe(`${odd}/root`);
  });

  it('moves the sockets out of a dir that is too long for unix socket paths', () => {
    const long = `/tmp/${'d'.repeat(100)}`;
    const p = containerdPaths({ dir: long });
    expect(p.socketFallback).toBe(true);
    expect(p.socketDir.startsWith(`${SOCKET_FALLBACK_ROOT}/`)).toBe(true);
    expect(p.ttrpcAddress.length).toBeLessThanOrEqual(MAX_UNIX_SOCKET_PATH);
    expect(p.root).toBe(`${long}/root`);
    // Stable for the same dir, different for another.
    expect(containerdPaths({ dir: long }).socketDir).toBe(p.socketDir);
    expect(containerdPaths({ dir: `${long}x` }).socketDir).not.toBe(p.socketDir);
    const cfg = parse(containerdConfigToml({ dir: long }));
    expect(table(cfg.grpc).address).toBe(p.address);
    expect(containerdPaths({ dir }).socketFallback).toBe(false);
  });

  it('resolves a relative dir', () => {
    expect(containerdPaths({ dir: 'rel' }).dir).toBe(`${process.cwd()}/rel`);
  });
});
