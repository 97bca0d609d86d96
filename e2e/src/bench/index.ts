// `make bench`: side-by-side benchmarks against a peer measured in the same run (ctr, containerd's own
// CRI plugin on the same containerd). Prints figures and ratios; never asserts on time.
import { cri } from '@crisp/api';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createChannel, createClient } from 'nice-grpc';
import { runCleanups } from '../cleanup';
import { startTestContainerd } from '../containerd';
import { startCrisp } from '../crisp';
import { pushFixtures } from '../images';
import { startRegistry } from '../registry';
import { runCommand } from '../proc';
import { makeTempDir } from '../tmp';
import { benchPull, reportPull } from './pull';
import { benchSandboxLifecycle, reportLifecycle } from './sandbox';

const BRIDGE = 'crisp-bench0';
/** crisp's own namespace here: containerd's CRI plugin owns k8s.io in this run. */
const CRISP_NS = 'crisp-bench';

async function main(): Promise<void> {
  const rounds = Number(process.env['CRISP_BENCH_ROUNDS'] ?? 3);
  const lifecycleRounds = Number(process.env['CRISP_BENCH_LIFECYCLE_ROUNDS'] ?? 20);
  const registry = await startRegistry();
  const { big, pause } = await pushFixtures(registry, ['big', 'pause']);
  const cniDir = makeTempDir('crisp-bench-netd-');
  const ipamDir = makeTempDir('crisp-bench-ipam-');
  writeFileSync(
    path.join(cniDir, '10-bench.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'crisp-bench',
      plugins: [
        { type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: '10.232.0.0/22' }]], dataDir: ipamDir } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
  );
  // containerd with its CRI plugin enabled: the peer, on the same containerd crisp uses.
  const containerd = await startTestContainerd({
    enableCri: true,
    criConfig: { cniBinDir: '/usr/lib/cni', cniConfDir: cniDir, sandboxImage: pause.reference, insecureRegistries: [registry.host] },
  });
  const crisp = await startCrisp({
    containerdAddress: containerd.address,
    namespace: CRISP_NS,
    args: ['--log-level', process.env['CRISP_BENCH_LOG_LEVEL'] ?? 'warn'],
    config: `sandbox_image = "${pause.reference}"\n[cni]\nconf_dir = "${cniDir}"\nbin_dirs = ["/usr/lib/cni"]\n`,
  });
  const peerChannel = createChannel(`unix://${containerd.address}`);
  const peer = createClient(cri.RuntimeServiceDefinition, peerChannel);
  const peerImages = createClient(cri.ImageServiceDefinition, peerChannel);
  try {
    const bytes = big.image.layers.reduce((n, l) => n + l.size, 0);
    process.stdout.write(reportPull(await benchPull(containerd, crisp, CRISP_NS, big, rounds), bytes) + '\n\n');

    await crisp.images.pullImage({ image: { image: pause.reference } });
    await peerImages.pullImage({ image: { image: pause.reference } });
    process.stdout.write(reportLifecycle(await benchSandboxLifecycle(crisp.runtime, peer, lifecycleRounds)) + '\n');
  } finally {
    peerChannel.close();
    await crisp.stop();
    await containerd.cleanup();
    await registry.stop();
    await runCommand('ip', ['link', 'del', BRIDGE]);
  }
}

main()
  .then(() => runCleanups())
  .catch(async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await runCleanups();
    process.exit(1);
  });
