// `make bench`: side-by-side benchmarks against a peer measured in the same run. Prints figures and
// ratios; never asserts on time.
import { runCleanups } from '../cleanup';
import { startTestContainerd } from '../containerd';
import { startCrisp } from '../crisp';
import { pushFixtures } from '../images';
import { startRegistry } from '../registry';
import { benchPull, reportPull } from './pull';

async function main(): Promise<void> {
  const rounds = Number(process.env['CRISP_BENCH_ROUNDS'] ?? 3);
  const containerd = await startTestContainerd();
  const registry = await startRegistry();
  const { big } = await pushFixtures(registry, ['big']);
  const crisp = await startCrisp({ containerdAddress: containerd.address, args: ['--log-level', 'info'] });
  try {
    const bytes = big.image.layers.reduce((n, l) => n + l.size, 0);
    process.stdout.write(reportPull(await benchPull(containerd, crisp, big, rounds), bytes) + '\n');
  } finally {
    await crisp.stop();
    await registry.stop();
    await containerd.cleanup();
  }
}

main()
  .then(() => runCleanups())
  .catch(async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await runCleanups();
    process.exit(1);
  });
