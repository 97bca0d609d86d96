// A pod network for tests and benchmarks: a conflist for Debian's bridge + host-local (+ portmap) on a
// test bridge with its own private subnet and no masquerade, so no traffic leaves the machine.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { onCleanup } from './cleanup';
import { runCommand } from './proc';
import { makeTempDir } from './tmp';

export interface TestNetwork {
  /** The CNI conf dir to give crisp (`[cni] conf_dir`). */
  confDir: string;
  /** host-local's store: one file per allocated IP under `<ipamDir>/<name>`. */
  ipamDir: string;
  name: string;
  bridge: string;
  subnet: string;
  /** The crisp config lines for this network. */
  crispConfig: string;
}

export interface TestNetworkOptions {
  name: string;
  /** Linux interface name: at most 15 characters. */
  bridge: string;
  /** A private subnet no other test uses, e.g. 10.231.x.0/24. */
  subnet: string;
  portmap?: boolean;
  /** A default route in the pod via the bridge, for replies to client netns outside the subnet. */
  defaultRoute?: boolean;
}

/** Writes the conflist; the bridge is deleted at clean-up. */
export function makeTestNetwork(opts: TestNetworkOptions): TestNetwork {
  const confDir = makeTempDir(`${opts.name}-netd-`);
  const ipamDir = makeTempDir(`${opts.name}-ipam-`);
  const ipam = {
    type: 'host-local',
    ranges: [[{ subnet: opts.subnet }]],
    ...(opts.defaultRoute ? { routes: [{ dst: '0.0.0.0/0' }] } : {}),
    dataDir: ipamDir,
  };
  const plugins: object[] = [{ type: 'bridge', bridge: opts.bridge, isGateway: true, ipMasq: false, ipam }];
  if (opts.portmap) plugins.push({ type: 'portmap', capabilities: { portMappings: true } });
  writeFileSync(path.join(confDir, `10-${opts.name}.conflist`), JSON.stringify({ cniVersion: '1.0.0', name: opts.name, plugins }));
  onCleanup(`bridge ${opts.bridge}`, async () => {
    await runCommand('ip', ['link', 'del', opts.bridge]);
  });
  return {
    confDir,
    ipamDir,
    name: opts.name,
    bridge: opts.bridge,
    subnet: opts.subnet,
    crispConfig: `[cni]\nconf_dir = "${confDir}"\nbin_dirs = ["/usr/lib/cni"]\n`,
  };
}
