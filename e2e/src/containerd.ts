// A private containerd per test file, in /tmp/crisp-e2e-XXXXXX, torn down by runCleanups():
// tasks and shims killed, runc state deleted, mounts unmounted, the dir removed.

import * as fs from 'node:fs';
import { ManagedContainerd, ManagedContainerdOptions, mountsUnder, startManagedContainerd } from '@crisp/server';
import { onCleanup } from './cleanup';
import { CommandOptions, CommandResult, runCommand } from './proc';
import { keepTempDirs, makeTempDir } from './tmp';

/** Namespace the harness uses for its own ctr calls unless told otherwise. */
export const TEST_NAMESPACE = 'crisp-test';

export interface TestContainerdOptions extends Partial<Omit<ManagedContainerdOptions, 'dir'>> {
  /** Use this dir instead of a fresh /tmp/crisp-e2e-XXXXXX (not removed at clean-up). */
  dir?: string;
}

export interface TestContainerd extends ManagedContainerd {
  /**
   * Tear down now (what runCleanups() would do): kill tasks and shims, unmount, stop containerd,
   * remove the temp dir. Idempotent.
   */
  cleanup(): Promise<void>;
  /** `ctr --address <address> -n <namespace> ...args` (namespace defaults to crisp-test). */
  ctr(args: string[], opts?: CommandOptions & { namespace?: string }): Promise<CommandResult>;
}

export async function startTestContainerd(opts: TestContainerdOptions = {}): Promise<TestContainerd> {
  const ownDir = opts.dir === undefined;
  // The dir is removed by our own clean-up below (after unmounting), not by makeTempDir's.
  const dir = opts.dir ?? makeTempDir('crisp-e2e-', { keep: true });
  let managed: ManagedContainerd | undefined;
  let tornDown: Promise<void> | undefined;
  const teardown = (): Promise<void> =>
    (tornDown ??= (async () => {
      if (managed) await managed.cleanupAll();
      if (!ownDir || keepTempDirs()) return;
      const left = mountsUnder([dir]);
      if (left.length > 0) throw new Error(`not removing ${dir}: still mounted: ${left.join(', ')}`);
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    })());
  const unregister = onCleanup(`containerd in ${dir}`, teardown);
  managed = await startManagedContainerd({ ...opts, dir });
  const m = managed;
  const ctr = (args: string[], o: CommandOptions & { namespace?: string } = {}): Promise<CommandResult> =>
    runCommand('ctr', ['--address', m.address, '--namespace', o.namespace ?? TEST_NAMESPACE, ...args], o);
  const cleanup = async (): Promise<void> => {
    unregister();
    await teardown();
  };
  return Object.assign(m, { ctr, cleanup });
}
