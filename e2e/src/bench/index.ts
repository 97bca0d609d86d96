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
import { benchContainerLifecycle, benchContainerReads, containerdFloor, crispLeftovers, reportContainerLifecycle, reportContainerReads } from './containers';
import { benchPull, reportPull } from './pull';
import { benchSandboxLifecycle, reportLifecycle } from './sandbox';
import { listNetns, sweepHost } from './sweep';

const BRIDGE = 'crisp-bench0';
const SUBNET = '10.232.0.0/22';
/** What addresses of SUBNET start with (for the last-resort sweep of pod namespaces). */
const SUBNET_PREFIX = '10.232.';
/** crisp's own namespace here: containerd's CRI plugin owns k8s.io in this run. */
const CRISP_NS = 'crisp-bench';

async function main(): Promise<void> {
  const rounds = Number(process.env['CRISP_BENCH_ROUNDS'] ?? 3);
  const lifecycleRounds = Number(process.env['CRISP_BENCH_LIFECYCLE_ROUNDS'] ?? 20);
  const containerRounds = Number(process.env['CRISP_BENCH_CONTAINER_ROUNDS'] ?? 20);
  const containerCount = Number(process.env['CRISP_BENCH_CONTAINERS'] ?? 100);
  const concurrency = Number(process.env['CRISP_BENCH_CONCURRENCY'] ?? 8);
  const readsRepeat = Number(process.env['CRISP_BENCH_READS_REPEAT'] ?? 1);
  // Which sections to run (comma-separated): pull, sandbox, containers; all by default.
  const sections = new Set((process.env['CRISP_BENCH_SECTIONS'] ?? 'pull,sandbox,containers').split(',').map((s) => s.trim()));
  const netnsBefore = listNetns();
  const registry = await startRegistry();
  const { big, pause, busybox } = await pushFixtures(registry, ['big', 'pause', 'busybox']);
  const cniDir = makeTempDir('crisp-bench-netd-');
  const ipamDir = makeTempDir('crisp-bench-ipam-');
  writeFileSync(
    path.join(cniDir, '10-bench.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'crisp-bench',
      plugins: [
        { type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], dataDir: ipamDir } },
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
    if (sections.has('pull')) {
      const bytes = big.image.layers.reduce((n, l) => n + l.size, 0);
      process.stdout.write(reportPull(await benchPull(containerd, crisp, CRISP_NS, big, rounds), bytes) + '\n\n');
    }

    await crisp.images.pullImage({ image: { image: pause.reference } });
    await peerImages.pullImage({ image: { image: pause.reference } });
    if (sections.has('sandbox')) {
      process.stdout.write(reportLifecycle(await benchSandboxLifecycle(crisp.runtime, peer, lifecycleRounds)) + '\n\n');
    }

    if (sections.has('containers')) {
      await crisp.images.pullImage({ image: { image: busybox.reference } });
      await peerImages.pullImage({ image: { image: busybox.reference } });
      const crispTarget = { name: 'crisp', rt: crisp.runtime };
      const peerTarget = { name: 'containerd CRI', rt: peer };
      process.stdout.write(reportContainerLifecycle(await benchContainerLifecycle(crispTarget, peerTarget, busybox.reference, containerRounds)) + '\n\n');
      // More than one pass (fill, read, drain) shows whether crisp's fds or memory grow from pass to pass.
      for (let pass = 1; pass <= readsRepeat; pass++) {
        if (readsRepeat > 1) process.stdout.write(`\n[pass ${pass} of ${readsRepeat}]\n`);
        const floor = containerdFloor(containerd.address, CRISP_NS);
        const reads = await benchContainerReads(crispTarget, peerTarget, busybox.reference, {
          containers: containerCount,
          concurrency,
          listCalls: 50,
          statusCalls: 100,
          crispPid: crisp.pid,
          floor,
        }).finally(() => floor.close());
        process.stdout.write(reportContainerReads(reads) + '\n');
        const left = await crispLeftovers({ containerdAddress: containerd.address, namespace: CRISP_NS, snapshotter: 'overlayfs', stateDir: crisp.stateDir });
        process.stdout.write(`  crisp leftovers after clean-up: ${left.length === 0 ? 'none' : left.join('; ')}\n`);
      }
    }
  } finally {
    // Every step, whatever the one before did: the bridge must not outlive the run.
    const steps: [string, () => unknown][] = [
      ['close the peer channel', () => peerChannel.close()],
      ['stop crisp', () => crisp.stop()],
      ['stop containerd', () => containerd.cleanup()],
      [
        'sweep pod leftovers',
        async () => {
          const removed = await sweepHost({ netnsBefore, addressPrefix: SUBNET_PREFIX, mountRoots: [crisp.dir] });
          if (removed.length > 0) process.stderr.write(`bench clean-up: removed what the runtimes left on the host: ${removed.join(', ')}\n`);
        },
      ],
      ['stop the registry', () => registry.stop()],
      ['delete the CNI bridge', () => runCommand('ip', ['link', 'del', BRIDGE])],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (err) {
        process.stderr.write(`bench clean-up: could not ${what}: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  }
}

main()
  .then(() => runCleanups())
  .catch(async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await runCleanups();
    process.exit(1);
  });
