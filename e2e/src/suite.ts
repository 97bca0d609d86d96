// The stack most e2e suites start in beforeAll: a private containerd, a local registry with the
// fixture images, crisp on them (sandbox image = the pause fixture, optionally a test CNI network),
// images pulled through crisp and optionally one pod; and one stop() that takes it all down.
import { cri } from '@crisp/api';
import { ContainerdClient } from '@crisp/containerd';
import { makeTestNetwork } from './cni';
import type { TestNetwork, TestNetworkOptions } from './cni';
import { startTestContainerd } from './containerd';
import { podConfig as basePodConfig } from './cri';
import type { TestContainerd } from './containerd';
import { startCrisp } from './crisp';
import type { CrispProcess } from './crisp';
import { pushFixtures } from './images';
import type { FixtureName, PushedFixture } from './images';
import { startRegistry } from './registry';
import type { TestRegistry } from './registry';

/** The containerd namespace crisp works in (its default), which the suite's containerd client uses. */
const CRI_NAMESPACE = 'k8s.io';

/** A pod on the host network (no CNI needed), with its own pid namespace and a pod IPC namespace. */
export function hostNetworkPodConfig(name: string, extra: Partial<cri.PodSandboxConfig> = {}): cri.PodSandboxConfig {
  const namespaceOptions = { network: cri.NamespaceMode.NODE, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD };
  return basePodConfig(name, { ...extra, linux: { securityContext: { namespaceOptions } } as never });
}

export interface CrispSuiteOptions {
  /** Fixtures pushed to the registry; busybox and pause are always pushed. */
  fixtures?: FixtureName[];
  /** Fixtures pulled through crisp's ImageService before the pod is made; default busybox. */
  pull?: FixtureName[];
  /** A test CNI network for the pods; without it, crisp has no [cni] config (host-network pods only). */
  network?: TestNetworkOptions;
  /** More crisp config, after sandbox_image and the network's lines; may depend on the containerd. */
  config?: string | ((containerd: TestContainerd) => string);
  /** A containerd client in crisp's namespace, closed by stop(). */
  containerdClient?: boolean;
  /** A pod run once the images are pulled; stop() stops and removes it. */
  pod?: cri.PodSandboxConfig | ((crisp: CrispProcess) => cri.PodSandboxConfig);
}

export interface CrispSuite {
  containerd: TestContainerd;
  registry: TestRegistry;
  crisp: CrispProcess;
  images: Record<FixtureName, PushedFixture>;
  /** The busybox fixture's reference (pulled unless `pull` left it out). */
  busybox: string;
  /** Set when `network` was given. */
  network: TestNetwork | undefined;
  /** Set when `containerdClient` was asked for. */
  client: ContainerdClient | undefined;
  /** The pod's config and id; '' when no `pod` was asked for. */
  podConfig: cri.PodSandboxConfig | undefined;
  podId: string;
  /** The pod's IP on the test network; '' without a network or a pod. */
  podIp: string;
  /** Removes the pod, closes the client, stops crisp, containerd and the registry; every step runs, failures are thrown together. */
  stop(): Promise<void>;
}

/**
 * Starts the stack. When a step fails, whatever was started is taken down again before the error
 * is rethrown, so a failing beforeAll leaves nothing behind.
 */
export async function startCrispSuite(opts: CrispSuiteOptions = {}): Promise<CrispSuite> {
  const steps: { name: string; run: () => Promise<unknown> }[] = [];
  const stop = async (): Promise<void> => {
    const errors: string[] = [];
    // Newest first: the pod before crisp (removing it unmounts its /dev/shm, which would keep
    // crisp's state directory busy), crisp before containerd.
    for (const step of steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (err) {
        errors.push(`${step.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (errors.length > 0) throw new Error(`stopping the e2e stack failed:\n${errors.join('\n')}`);
  };

  try {
    const registry = await startRegistry();
    steps.push({ name: 'registry', run: () => registry.stop() });
    const containerd = await startTestContainerd();
    steps.push({ name: 'containerd', run: () => containerd.cleanup() });
    const images = await pushFixtures(registry, [...new Set<FixtureName>(['busybox', 'pause', ...(opts.fixtures ?? [])])]);
    const network = opts.network ? makeTestNetwork(opts.network) : undefined;
    const extra = typeof opts.config === 'function' ? opts.config(containerd) : (opts.config ?? '');
    const crisp = await startCrisp({
      containerdAddress: containerd.address,
      config: `sandbox_image = "${images.pause.reference}"\n${network?.crispConfig ?? ''}${extra}`,
    });
    steps.push({ name: 'crisp', run: () => crisp.stop() });
    let client: ContainerdClient | undefined;
    if (opts.containerdClient) {
      const c = new ContainerdClient({ address: containerd.address, namespace: CRI_NAMESPACE });
      client = c;
      steps.push({ name: 'containerd client', run: async () => c.close() });
    }
    for (const name of opts.pull ?? ['busybox']) await crisp.images.pullImage({ image: { image: images[name].reference } });

    let podConfig: cri.PodSandboxConfig | undefined;
    let podId = '';
    let podIp = '';
    if (opts.pod) {
      const config = typeof opts.pod === 'function' ? opts.pod(crisp) : opts.pod;
      podConfig = config;
      const id = (await crisp.runtime.runPodSandbox({ config })).podSandboxId;
      podId = id;
      steps.push({
        name: `pod ${id}`,
        // Both are idempotent: a test may have removed the pod already.
        run: async () => {
          await crisp.runtime.stopPodSandbox({ podSandboxId: id });
          await crisp.runtime.removePodSandbox({ podSandboxId: id });
        },
      });
      if (network) podIp = (await crisp.runtime.podSandboxStatus({ podSandboxId: id, verbose: false })).status!.network!.ip;
    }
    return { containerd, registry, crisp, images, busybox: images.busybox.reference, network, client, podConfig, podId, podIp, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
