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
import { benchPortForward, reportPortForward } from './portforward';
import { benchExecSync, reportExecSync } from './exec';
import { benchSandboxLifecycle, reportLifecycle } from './sandbox';
import { allocatedAddresses, listNetns, sweepHost, takeBenchLock } from './sweep';
import { benchStatsList, reportStatsList, startStandaloneExporter } from './stats-list';
import { freePort } from '../proc';
import { ContainerdClient } from '@crisp/containerd';
import { metricsGroups, taskFilters } from '@crisp/metrics-exporter';

const BRIDGE = 'crisp-bench0';
const SUBNET = '10.232.0.0/22';
/** One bench run at a time on a host (see takeBenchLock). */
const LOCK_PATH = '/run/crisp-bench.lock';
/** crisp's own namespace here: containerd's CRI plugin owns k8s.io in this run. */
const CRISP_NS = 'crisp-bench';

/** Set once this run holds the lock: released after the clean-ups, never someone else's. */
let releaseLock = (): void => {};

async function main(): Promise<void> {
  releaseLock = takeBenchLock(LOCK_PATH);
  const rounds = Number(process.env['CRISP_BENCH_ROUNDS'] ?? 3);
  const lifecycleRounds = Number(process.env['CRISP_BENCH_LIFECYCLE_ROUNDS'] ?? 20);
  const containerRounds = Number(process.env['CRISP_BENCH_CONTAINER_ROUNDS'] ?? 20);
  const containerCount = Number(process.env['CRISP_BENCH_CONTAINERS'] ?? 100);
  const concurrency = Number(process.env['CRISP_BENCH_CONCURRENCY'] ?? 8);
  const readsRepeat = Number(process.env['CRISP_BENCH_READS_REPEAT'] ?? 1);
  const readsWarmup = Number(process.env['CRISP_BENCH_READS_WARMUP'] ?? 200);
  const portForwardRounds = Number(process.env['CRISP_BENCH_PORTFORWARD_ROUNDS'] ?? 3);
  const execCalls = Number(process.env['CRISP_BENCH_EXEC_CALLS'] ?? 50);
  // Which sections to run (comma-separated): pull, sandbox, containers, stats, portforward, exec; all by default.
  const sections = new Set((process.env['CRISP_BENCH_SECTIONS'] ?? 'pull,sandbox,containers,stats,portforward,exec').split(',').map((s) => s.trim()));
  const statsContainers = Number(process.env['CRISP_BENCH_STATS_CONTAINERS'] ?? 100);
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
  const metricsPort = await freePort();
  // Another build's CLI (e.g. the previous commit's), to compare two builds under the same bench.
  const crispCli = process.env['CRISP_BENCH_CRISP_CLI'];
  const crisp = await startCrisp({
    ...(crispCli ? { cliPath: crispCli } : {}),
    containerdAddress: containerd.address,
    namespace: CRISP_NS,
    args: ['--log-level', process.env['CRISP_BENCH_LOG_LEVEL'] ?? 'warn'],
    config: `sandbox_image = "${pause.reference}"\n[cni]\nconf_dir = "${cniDir}"\nbin_dirs = ["/usr/lib/cni"]\n[metrics]\naddress = "127.0.0.1:${metricsPort}"\n`,
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
          listCalls: 100,
          statusCalls: 100,
          warmupCalls: readsWarmup,
          crispPid: crisp.pid,
          floor,
        }).finally(() => floor.close());
        process.stdout.write(reportContainerReads(reads) + '\n');
        const left = await crispLeftovers({ containerdAddress: containerd.address, namespace: CRISP_NS, snapshotter: 'overlayfs', stateDir: crisp.stateDir });
        process.stdout.write(`  crisp leftovers after clean-up: ${left.length === 0 ? 'none' : left.join('; ')}\n`);
      }
    }

    if (sections.has('stats')) {
      await crisp.images.pullImage({ image: { image: busybox.reference } });
      await peerImages.pullImage({ image: { image: busybox.reference } });
      // The standalone exporter reads the CRI plugin's namespace: the peer's containers, not crisp's.
      const exporter = await startStandaloneExporter({ containerdAddress: containerd.address, containerdRoot: path.join(containerd.dir, 'root'), namespace: 'k8s.io' });
      try {
        const sides = [
          { name: 'crisp', rt: crisp.runtime, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` },
          { name: 'containerd CRI', rt: peer, metricsUrl: exporter.url },
        ];
        // containerd's own share: Tasks.Metrics over crisp's containers, as one call and as crisp splits it.
        const direct = new ContainerdClient({ address: containerd.address, namespace: CRISP_NS });
        const metricsOf = (filters: string[]): Promise<unknown> => direct.tasks.metrics({ filters });
        const floors = [
          { name: 'Tasks.Metrics, one call', side: 0, call: (ids: string[]) => metricsOf(taskFilters(ids)) },
          { name: 'Tasks.Metrics, crisp\'s groups', side: 0, call: (ids: string[]) => Promise.all(metricsGroups(ids).map(metricsOf)) },
        ];
        try {
          process.stdout.write(reportStatsList(await benchStatsList(sides, busybox.reference, { containers: statsContainers, concurrency, calls: 50, scrapes: 20, floors })) + '\n\n');
        } finally {
          direct.close();
        }
      } finally {
        await exporter.stop();
      }
    }

    if (sections.has('exec')) {
      await crisp.images.pullImage({ image: { image: busybox.reference } });
      await peerImages.pullImage({ image: { image: busybox.reference } });
      const sides = [
        { name: 'crisp', rt: crisp.runtime, floor: { address: containerd.address, namespace: CRISP_NS } },
        { name: 'containerd CRI', rt: peer, floor: { address: containerd.address, namespace: 'k8s.io' } },
      ];
      process.stdout.write(reportExecSync(await benchExecSync(sides, busybox.reference, { calls: execCalls, warmup: 5 })) + '\n\n');
    }

    if (sections.has('portforward')) {
      await crisp.images.pullImage({ image: { image: busybox.reference } });
      await peerImages.pullImage({ image: { image: busybox.reference } });
      process.stdout.write(reportPortForward(await benchPortForward(crisp.runtime, peer, busybox.reference, portForwardRounds)) + '\n\n');
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
          const removed = await sweepHost({ netnsBefore, ownAddresses: allocatedAddresses(ipamDir, 'crisp-bench'), mountRoots: [crisp.dir] });
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
  .then(() => releaseLock())
  .catch(async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await runCleanups();
    releaseLock();
    process.exit(1);
  });
