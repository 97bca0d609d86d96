// Pod sandboxes: the pause container with its namespaces, network and shared files. Creation and
// teardown run on their own deadlines, not the caller's: a kubelet that gives up must neither leave
// half a pod behind nor make the retry fail (see reservations.ts).
import { cri, runcOptions, task } from '@crisp/api';
import { ContainerdClient, isNotFound, LeasePool, packJson, packMessage, packSpec, withLease } from '@crisp/containerd';
import { detectResourceSupport } from '../oci/host';
import { ResourceSupport, toOciResources } from '../oci/resources';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { CrispConfig } from '../config/schema';
import { failedPrecondition, invalidArgument, notFound } from '../errors';
import type { Puller } from '../image/pull';
import { resolveImageCached } from '../image/image-index';
import type { EventMonitor } from '../events';
import type { Logger } from '../log';
import { CniNetwork, CniRuntimeConf, podIPs } from '../network/cni';
import { loadCniConfig } from '../network/cni-config';
import { createNetns, netnsExists, removeNetns } from '../network/netns';
import { endNetnsDialers } from '../streaming/portforward/netns-dialer';
import { buildSandboxSpec } from '../oci/sandbox-spec';
import { readOwnOomScoreAdj } from '../oci/oom';
import { sandboxLabels, snapshotLabels } from '../store/labels';
import type { CrispContext } from '../context';
import { removeSandboxDir, writeSandboxFiles } from './files';
import { SandboxRecord, hostNetwork, sandboxExtensions } from './record';
import { NameReservations, configHash, podKey } from './reservations';
import { mountShm, shmPath, unmountShm } from './shm';
import { SandboxStore } from './store';

/** Creating or tearing down a pod may take this long, whatever the caller's deadline. */
export const SANDBOX_OP_TIMEOUT_MS = 4 * 60 * 1000;
/** How long the pause process gets to exit after SIGKILL before Stop gives up waiting. */
const STOP_WAIT_MS = 10_000;
const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';
const NOT_READY = Object.freeze({ state: cri.PodSandboxState.SANDBOX_NOTREADY, pid: 0 });
const SIGKILL = 9;

export interface SandboxDeps {
  config: CrispConfig;
  containerd: ContainerdClient;
  logger: Logger;
  puller: Puller;
  /** Leases that guard a new snapshot from containerd's GC until a container references it. */
  leases: LeasePool;
  /** For image lookups (the image index reads through the context). */
  ctx: () => CrispContext;
  /** Tells when a pause process exits (the pod is then NOTREADY). */
  monitor?: Pick<EventMonitor, 'onExit' | 'addKnownContainers'>;
  /** The pod's containers are stopped and removed with it. */
  containers?: () => { stopAllIn(sandboxId: string): Promise<void>; removeAllIn(sandboxId: string): Promise<void> };
}

function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function newId(): string {
  return randomBytes(32).toString('hex');
}

/** Like Promise.all, but waits for every branch before failing, so that clean-up sees all they did. */
async function allSettledOrThrow<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

function ownSignal(): AbortSignal {
  return AbortSignal.timeout(SANDBOX_OP_TIMEOUT_MS);
}

export class SandboxManager {
  readonly store = new SandboxStore();
  private readonly reservations = new NameReservations<string>();
  private ownOom: number | undefined;
  /** The pause tasks started by this crisp, with their cgroups path: the monitor knows all of their events. */
  private readonly ownTasks = new Map<string, string | undefined>();
  private resourceSupport: ResourceSupport | undefined;

  constructor(private readonly deps: SandboxDeps) {
    // Pause tasks this crisp started: their start and exit events need no Containers.Get.
    deps.monitor?.addKnownContainers((id) => (this.ownTasks.has(id) ? { kind: 'sandbox', cgroupsPath: this.ownTasks.get(id) } : undefined));
    deps.monitor?.onExit((exit) => {
      if (exit.kind === 'sandbox' && this.live.has(exit.containerId)) this.live.set(exit.containerId, NOT_READY);
    });
  }

  private loaded: Promise<void> | undefined;

  /** Rebuilds the store from containerd, retrying until containerd answers; RPCs wait for it. */
  startLoading(): void {
    this.loaded ??= (async () => {
      for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
        try {
          await this.store.load(this.deps.containerd, this.deps.logger);
          await this.loadStates();
          this.deps.logger.info({ sandboxes: this.store.all().length }, 'sandboxes loaded from containerd');
          return;
        } catch (err) {
          this.deps.logger.warn({ err, retryMs: delay }, 'cannot load sandboxes from containerd yet');
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })();
  }

  /** Resolves once the store reflects containerd. */
  ready(): Promise<void> {
    this.startLoading();
    return this.loaded!;
  }

  private cniCacheDir(): string {
    return path.join(this.deps.config.stateDir, 'cni');
  }

  private runtimeFor(handler: string): { name: string; runtime: string; options: runcOptions.Options } {
    const name = handler || this.deps.config.defaultRuntimeHandler;
    const h = this.deps.config.runtimes[name];
    if (!h) throw invalidArgument(`unknown runtime handler "${name}" (configured: ${Object.keys(this.deps.config.runtimes).join(', ')})`);
    const options = runcOptions.Options.fromPartial({
      binaryName: h.binaryName,
      systemdCgroup: h.systemdCgroup ?? this.deps.config.cgroupDriver === 'systemd',
    });
    return { name, runtime: h.runtimeType, options };
  }

  async run(req: cri.RunPodSandboxRequest): Promise<string> {
    const config = req.config;
    const md = config?.metadata;
    if (!config || !md) throw invalidArgument('RunPodSandbox: config.metadata is required');
    for (const field of ['name', 'namespace', 'uid'] as const) {
      if (!md[field]) throw invalidArgument(`RunPodSandbox: metadata.${field} is required`);
    }
    const runtime = this.runtimeFor(req.runtimeHandler);
    await this.ready();
    const key = podKey(md);
    const hash = configHash({ config, runtimeHandler: runtime.name });
    return this.reservations.run(
      key,
      hash,
      newId,
      (id) => this.create(id, config, runtime, hash),
      () => {
        const rec = this.store.byPodKey(key);
        return rec ? { id: rec.id, configHash: rec.configHash, value: rec.id } : undefined;
      },
      'pod sandbox',
    );
  }

  private async sandboxImage(signal: AbortSignal) {
    const ctx = this.deps.ctx();
    const ref = this.deps.config.sandboxImage;
    const found = await resolveImageCached(ctx, ref, signal);
    if (found) return { ref, group: found };
    await this.deps.puller.pull(ref, undefined, signal);
    const pulled = await resolveImageCached(ctx, ref, signal);
    if (!pulled) throw notFound(`sandbox image ${ref} not found after pulling it`);
    return { ref, group: pulled };
  }

  private async create(id: string, config: cri.PodSandboxConfig, runtime: ReturnType<SandboxManager['runtimeFor']>, hash: string): Promise<string> {
    const { containerd, logger } = this.deps;
    const cfg = this.deps.config;
    const signal = ownSignal();
    const log = logger.child({ podSandboxId: id });
    const undo: { what: string; fn: () => Promise<unknown> }[] = [];
    const md = config.metadata!;
    const hostNet = hostNetwork(config);
    // Per-phase durations, logged with the result: where a slow RunPodSandbox spent its time.
    const phases: Record<string, number> = {};
    let mark = performance.now();
    const phase = (name: string): void => {
      const now = performance.now();
      phases[name] = Math.round((now - mark) * 10) / 10;
      mark = now;
    };
    try {
      // The image, the pod's files, the netns and the CNI config don't depend on each other.
      const [image, , network] = await Promise.all([
        this.sandboxImage(signal),
        writeSandboxFiles(cfg.stateDir, id, config, hostNet, os.hostname()).then(() => {
          undo.push({ what: 'state dir', fn: () => removeSandboxDir(cfg.stateDir, id) });
        }),
        hostNet
          ? undefined
          : loadCniConfig(cfg.cni.confDir, cfg.cni.binDirs).then(async (load) => {
              if (!load.network) throw failedPrecondition(`no valid CNI network config in ${cfg.cni.confDir}: cannot set up the pod network`);
              const ns = await createNetns();
              undo.push({ what: 'netns', fn: () => removeNetns(ns) });
              return { network: load.network, netnsPath: ns };
            }),
        (async () => {
          this.ownOom ??= await readOwnOomScoreAdj();
        })(),
      ]);
      let devShmPath: string | undefined;
      if (config.linux?.securityContext?.namespaceOptions?.ipc !== cri.NamespaceMode.NODE) {
        const shm = shmPath(cfg.stateDir, id);
        await mountShm(shm);
        undo.push({ what: 'shm', fn: () => unmountShm(shm) });
        devShmPath = shm;
      }
      const meta = image.group.metadata;
      const netnsPath = network?.netnsPath;
      phase('prepare');

      const spec = buildSandboxSpec({
        id,
        config,
        imageConfig: meta.runtime,
        ...(netnsPath ? { netnsPath } : {}),
        cgroupDriver: cfg.cgroupDriver,
        ownOomScoreAdj: this.ownOom!,
        runtimeHandler: runtime.name,
        devShmPath,
      });
      const record: SandboxRecord = {
        id,
        config,
        configHash: hash,
        runtimeHandler: runtime.name,
        runtime: runtime.runtime,
        ...(netnsPath ? { netnsPath } : {}),
        ips: [],
        ...(network ? { cniNetwork: network.network.name } : {}),
        ...(devShmPath ? { devShmPath } : {}),
        createdAt: nowNanos().toString(),
        image: image.ref,
      };

      // CNI ADD and the pause container's creation run side by side: the pause process needs the netns
      // to exist, not to be configured. The IPs are recorded on the container once both are done.
      const addNetwork = async (): Promise<string[]> => {
        if (!network) return [];
        const net = new CniNetwork(network.network, cfg.cni.binDirs, this.cniCacheDir(), log);
        const rt = this.cniRuntimeConf(id, config, network.netnsPath);
        const result = await net.add(rt, signal);
        undo.push({ what: 'cni', fn: () => net.del(rt, ownSignal()) });
        phases['cniAdd'] = Math.round(performance.now() - mark);
        return podIPs(result, rt.ifName);
      };
      let pausePid = 0;
      const startPause = async (): Promise<void> => {
        const mounts = await this.createPauseContainer(id, {
          image: image.ref,
          parent: meta.chainId ?? '',
          labels: sandboxLabels(md),
          runtime,
          spec,
          extensions: sandboxExtensions(config, record),
        }, undo, log, signal);
        // Before the task exists: its /tasks/start event may be handled before tasks.start returns.
        this.ownTasks.set(id, spec.linux?.cgroupsPath);
        undo.push({ what: 'own task', fn: async () => this.ownTasks.delete(id) });
        const created = await containerd.tasks.create(
          { containerId: id, rootfs: mounts, stdin: '', stdout: '', stderr: '', terminal: false, runtimePath: '' },
          { signal },
        );
        undo.push({ what: 'task', fn: () => containerd.tasks.delete({ containerId: id }) });
        await containerd.tasks.start({ containerId: id, execId: '' }, { signal });
        pausePid = created.pid;
        phases['pause'] = Math.round(performance.now() - mark);
      };
      const [ips] = await allSettledOrThrow([addNetwork(), startPause()]);
      record.ips = ips;
      if (ips.length > 0) {
        await containerd.containers.update(
          { container: { id, labels: {}, extensions: sandboxExtensions(config, record), image: '', snapshotter: '', snapshotKey: '', sandbox: '' }, updateMask: ['extensions'] },
          { signal },
        );
      }
      phase('run');

      this.store.add(record);
      this.live.set(id, { state: cri.PodSandboxState.SANDBOX_READY, pid: pausePid });
      log.info({ pod: `${md.namespace}/${md.name}`, ips, netns: netnsPath, phases }, 'sandbox running');
      return id;
    } catch (err) {
      // Undo in reverse, each step on its own deadline, whatever happened to the caller.
      for (const step of undo.reverse()) {
        try {
          if (step.what === 'task') await containerd.tasks.kill({ containerId: id, execId: '', signal: SIGKILL, all: true }).catch(() => undefined);
          await step.fn();
        } catch (cleanupErr) {
          if (!isNotFound(cleanupErr)) log.warn({ err: cleanupErr, step: step.what }, 'cleanup after failed RunPodSandbox');
        }
      }
      throw err;
    }
  }

  /**
   * The pause container's snapshot and containerd container, under a lease: until the container
   * references it, only a lease keeps containerd's GC (which any client's delete may trigger) from
   * taking the new snapshot. Returns the rootfs mounts for the task.
   */
  private async createPauseContainer(
    id: string,
    c: { image: string; parent: string; labels: Record<string, string>; runtime: ReturnType<SandboxManager['runtimeFor']>; spec: object; extensions: ReturnType<typeof sandboxExtensions> },
    undo: { what: string; fn: () => Promise<unknown> }[],
    log: Logger,
    signal: AbortSignal,
  ) {
    const { containerd } = this.deps;
    const snapshotter = this.deps.config.containerd.snapshotter;
    const lease = await this.deps.leases.take(signal);
    const leased = withLease(lease, { signal });
    try {
      const { mounts } = await containerd.snapshots.prepare({ snapshotter, key: id, parent: c.parent, labels: snapshotLabels('sandbox', id) }, leased);
      undo.push({ what: 'snapshot', fn: () => containerd.snapshots.remove({ snapshotter, key: id }) });
      await containerd.containers.create(
        {
          container: {
            id,
            image: c.image,
            labels: c.labels,
            runtime: { name: c.runtime.runtime, options: packMessage(RUNC_OPTIONS_TYPE, runcOptions.Options, c.runtime.options) },
            spec: packSpec(c.spec),
            snapshotter,
            snapshotKey: id,
            extensions: c.extensions,
            sandbox: '',
          },
        },
        leased,
      );
      undo.push({ what: 'container', fn: () => containerd.containers.delete({ id }) });
      return mounts;
    } finally {
      await this.deps.leases.release(lease).catch((err: unknown) => log.warn({ err }, 'could not delete sandbox lease'));
    }
  }

  private cniRuntimeConf(id: string, config: cri.PodSandboxConfig, netns: string): CniRuntimeConf {
    const md = config.metadata!;
    const portMappings = config.portMappings
      .filter((p) => p.hostPort > 0)
      .map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: p.protocol === cri.Protocol.UDP ? 'udp' : p.protocol === cri.Protocol.SCTP ? 'sctp' : 'tcp',
        ...(p.hostIp ? { hostIP: p.hostIp } : {}),
      }));
    return {
      containerId: id,
      netns,
      ifName: 'eth0',
      args: {
        IgnoreUnknown: '1',
        K8S_POD_NAMESPACE: md.namespace,
        K8S_POD_NAME: md.name,
        K8S_POD_INFRA_CONTAINER_ID: id,
        K8S_POD_UID: md.uid,
      },
      capabilityArgs: { portMappings },
    };
  }

  /** Tears down the pod's network and stops the pause task; idempotent, unknown ids included. */
  async stop(idOrPrefix: string): Promise<void> {
    await this.ready();
    const rec = this.store.find(idOrPrefix);
    if (!rec) return;
    const signal = ownSignal();
    const log = this.deps.logger.child({ podSandboxId: rec.id });
    await this.deps.containers?.().stopAllIn(rec.id);
    // Port-forward helpers live in the pod's netns: end them, or they would keep it alive.
    if (rec.netnsPath) await endNetnsDialers(rec.netnsPath);
    // Network teardown and the pause task's end are independent: do them side by side.
    await allSettledOrThrow([this.teardownNetwork(rec, log, signal), this.stopTask(rec.id, signal)]);
    this.live.set(rec.id, NOT_READY);
  }

  /** CNI DEL (with the result cached at ADD) and netns removal; a no-op once done. */
  private async teardownNetwork(rec: SandboxRecord, log: Logger, signal: AbortSignal): Promise<void> {
    if (!rec.netnsPath) return;
    const binDirs = this.deps.config.cni.binDirs;
    const load = await loadCniConfig(this.deps.config.cni.confDir, binDirs);
    // The cached ADD carries the network config it ran with, so DEL works even if the conf dir changed.
    const network = load.network ?? (rec.cniNetwork ? { file: '', name: rec.cniNetwork, cniVersion: '1.0.0', disableCheck: false, plugins: [], raw: {} } : undefined);
    if (network) {
      const net = new CniNetwork(network, binDirs, this.cniCacheDir(), log);
      const rt = this.cniRuntimeConf(rec.id, rec.config, rec.netnsPath);
      const torn = !(await netnsExists(rec.netnsPath)) && !(await net.cachedResult(rec.id, rt.ifName));
      if (!torn) await net.del(rt, signal);
    } else {
      log.warn('no CNI config to tear the pod network down with: skipping CNI DEL');
    }
    await removeNetns(rec.netnsPath);
  }

  private async stopTask(id: string, signal: AbortSignal): Promise<void> {
    const { containerd } = this.deps;
    try {
      const { process } = await containerd.tasks.get({ containerId: id, execId: '' }, { signal });
      if (process && process.status !== task.Status.STOPPED) {
        const exited = containerd.tasks.wait({ containerId: id, execId: '' }, { signal: AbortSignal.any([signal, AbortSignal.timeout(STOP_WAIT_MS)]) });
        await containerd.tasks.kill({ containerId: id, execId: '', signal: SIGKILL, all: true }, { signal });
        await exited.catch(() => undefined);
      }
      await containerd.tasks.delete({ containerId: id }, { signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Stops the sandbox if needed and removes everything it had; idempotent. */
  async remove(idOrPrefix: string): Promise<void> {
    await this.ready();
    const rec = this.store.find(idOrPrefix);
    if (!rec) return;
    await this.stop(rec.id);
    await this.deps.containers?.().removeAllIn(rec.id);
    const signal = ownSignal();
    const { containerd } = this.deps;
    await containerd.containers.delete({ id: rec.id }, { signal }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await containerd.snapshots.remove({ snapshotter: this.deps.config.containerd.snapshotter, key: rec.id }, { signal }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    if (rec.devShmPath) await unmountShm(rec.devShmPath);
    await removeSandboxDir(this.deps.config.stateDir, rec.id);
    this.store.delete(rec.id);
    this.live.delete(rec.id);
    this.ownTasks.delete(rec.id);
  }

  /**
   * UpdatePodSandboxResources: kubelet owns the pod cgroup itself (runc has no pod-level cgroup of its
   * own to set), so crisp validates the pod's new limits and applies them to the pause container's
   * cgroup, as a runtime-visible record of what the pod may use.
   */
  async updateResources(idOrPrefix: string, resources: cri.LinuxContainerResources | undefined, signal: AbortSignal): Promise<void> {
    await this.ready();
    const rec = this.store.mustFind(idOrPrefix);
    if (!resources) return;
    this.resourceSupport ??= await detectResourceSupport();
    const oci = toOciResources(resources, this.resourceSupport, undefined, `pod sandbox ${rec.id}`);
    const { state } = await this.state(rec.id, signal);
    if (state !== cri.PodSandboxState.SANDBOX_READY) throw failedPrecondition(`pod sandbox ${rec.id} is not ready`);
    await this.deps.containerd.tasks.update(
      { containerId: rec.id, resources: packJson('types.containerd.io/opencontainers/runtime-spec/1/LinuxResources', oci), annotations: {} },
      { signal },
    );
  }

  /**
   * READY while the pause task runs; anything else (stopped, dead, gone) is NOTREADY. Kept in memory
   * (kubelet asks every second): set from Tasks.List at load, by crisp's own run and stop, and by the
   * EventMonitor's exits.
   */
  private readonly live = new Map<string, { state: cri.PodSandboxState; pid: number }>();

  private async loadStates(): Promise<void> {
    const { tasks } = await this.deps.containerd.tasks.list({ filter: '' });
    const running = new Map(tasks.filter((t) => t.status === task.Status.RUNNING).map((t) => [t.id, t.pid]));
    this.live.clear();
    for (const rec of this.store.all()) {
      const pid = running.get(rec.id);
      this.live.set(rec.id, pid !== undefined ? { state: cri.PodSandboxState.SANDBOX_READY, pid } : NOT_READY);
    }
  }

  async states(_signal?: AbortSignal): Promise<Map<string, { state: cri.PodSandboxState; pid: number }>> {
    await this.ready();
    return new Map(this.live);
  }

  async state(id: string, _signal?: AbortSignal): Promise<{ state: cri.PodSandboxState; pid: number }> {
    await this.ready();
    return this.live.get(id) ?? NOT_READY;
  }
}
