// Containers: created from an image and a pod sandbox, started with their stdio going to CRI logs,
// stopped with the image's stop signal and a timeout, removed with everything crisp made for them.
// containerd holds all state (labels, extensions); exits are recorded by the EventMonitor.
import { cri, task } from '@crisp/api';
import { ContainerdClient, LeasePool, OCI_SPEC_TYPE_URL, isNotFound, packJson, packSpec, timestampToCriNanos, unpackSpec, withLease } from '@crisp/containerd';
import { randomBytes, createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CrispConfig } from '../config/schema';
import type { CrispContext } from '../context';
import { failedPrecondition, invalidArgument, notFound } from '../errors';
import {
  ContainerEventBroadcaster,
  EXIT_UPDATE_MASK,
  EventMonitor,
  ExitRecord,
  decodeExitLabels,
  decodeStartedLabel,
  encodeExitLabels,
} from '../events';
import { resolveImageCached } from '../image/image-index';
import { imageGroupsCacheFor } from '../image/resolve-cache';
import type { Logger } from '../log';
import { ContainerLogger, ContainerFifos, FifoWriter, createFifos, openFifoReader, openFifoWriter, removeFifos } from '../logs';
import { buildContainerSpec, containerHostPaths, containerSeccompChoice, containerUser } from '../oci/container-spec';
import { readHostDeviceLookup, readHostDevices } from '../oci/devices';
import { detectResourceSupport, readOwnCapabilities, readLocalhostSeccomp } from '../oci/host';
import { readOwnOomScoreAdj } from '../oci/oom';
import { ResourceSupport, toOciResources } from '../oci/resources';
import { SIGKILL, stopSignalOf } from '../oci/signal';
import type { Spec } from '../oci/types';
import type { UserFiles } from '../oci/user';
import { sandboxFilePaths } from '../sandbox/files';
import type { SandboxManager } from '../sandbox/manager';
import { NameReservations, configHash } from '../sandbox/reservations';
import { criPodSandboxStatus } from '../sandbox/status';
import { containerLabels, kindFilter, snapshotLabels } from '../store/labels';
import { matchesId, matchesLabels } from '../store/filters';
import { PreEncodedList, PreEncodedListCache, PreEncodedMessage } from '../server/pre-encoded';
import { ContainerRecord, containerExtensions } from './record';
import { ContainerStore } from './store';

/** Create/start/remove run on their own deadline, whatever the caller's. */
export const CONTAINER_OP_TIMEOUT_MS = 4 * 60 * 1000;
/** Images whose /etc/passwd and /etc/group are kept, and the largest pair kept. */
const ETC_FILES_CACHE_ENTRIES = 128;
const ETC_FILES_CACHE_MAX_BYTES = 256 * 1024;
const LINUX_RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
/** The reason ContainerStatus gives a container whose task could not start. */
export const START_ERROR_LABEL = 'io.crisp.start-error';
const START_FAILED_EXIT_CODE = 128;

function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/**
 * Orders two canonical non-negative decimals (createdAt is always a BigInt's toString()) without
 * parsing: ListContainers sorts on every call, and BigInt parsing in the comparator dominated it.
 */
export function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function ownSignal(): AbortSignal {
  return AbortSignal.timeout(CONTAINER_OP_TIMEOUT_MS);
}

export interface ContainerDeps {
  config: CrispConfig;
  containerd: ContainerdClient;
  logger: Logger;
  /** Leases that guard a new snapshot from containerd's GC until a container references it. */
  leases: LeasePool;
  sandboxes: SandboxManager;
  monitor: EventMonitor;
  events: ContainerEventBroadcaster;
  ctx: () => CrispContext;
}

interface ContainerIo {
  logger: ContainerLogger;
  fifos: ContainerFifos;
  stdin?: FifoWriter;
}

/** What a container's state is, from its labels and its task. */
export interface ContainerState {
  state: cri.ContainerState;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  reason: string;
  message: string;
  pid: number;
}

export interface TaskInfo {
  status: task.Status;
  exitStatus: number;
  pid: number;
  /** CRI nanoseconds; 0 until it exits. */
  exitedAt: bigint;
}

export function containerState(labels: Record<string, string>, t: TaskInfo | undefined): ContainerState {
  const startedAt = decodeStartedLabel(labels) ?? 0n;
  const exit = decodeExitLabels(labels);
  const startError = labels[START_ERROR_LABEL];
  if (exit) {
    return {
      state: cri.ContainerState.CONTAINER_EXITED,
      // The start is stamped when containerd reports it, which for a very short process can be a few µs
      // after its exit: kubelet expects started <= finished.
      startedAt: startedAt > exit.exitedAt ? exit.exitedAt : startedAt,
      finishedAt: exit.exitedAt,
      exitCode: exit.exitCode,
      reason: startError !== undefined ? 'ContainerCannotRun' : exit.reason,
      message: startError ?? '',
      pid: 0,
    };
  }
  const base = { startedAt, finishedAt: 0n, exitCode: 0, reason: '', message: '', pid: t?.pid ?? 0 };
  if (!t) return { ...base, state: startedAt > 0n ? cri.ContainerState.CONTAINER_UNKNOWN : cri.ContainerState.CONTAINER_CREATED };
  switch (t.status) {
    case task.Status.RUNNING:
    case task.Status.PAUSED:
    case task.Status.PAUSING:
      return { ...base, state: cri.ContainerState.CONTAINER_RUNNING };
    case task.Status.CREATED:
      return { ...base, state: cri.ContainerState.CONTAINER_CREATED };
    case task.Status.STOPPED:
      // Exited, and the monitor is about to record it.
      return { ...base, state: cri.ContainerState.CONTAINER_EXITED, finishedAt: t.exitedAt, exitCode: t.exitStatus, reason: t.exitStatus === 0 ? 'Completed' : 'Error', pid: 0 };
    default:
      return { ...base, state: cri.ContainerState.CONTAINER_UNKNOWN };
  }
}

/** The files of a rootfs as the snapshotter's mounts show it, without mounting (overlay dirs or a bind source). */
export function rootfsDirs(mounts: { type: string; source: string; options: string[] }[]): string[] {
  const dirs: string[] = [];
  for (const m of mounts) {
    if (m.type === 'overlay') {
      const opt = (k: string): string | undefined => m.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
      const upper = opt('upperdir');
      if (upper) dirs.push(upper);
      dirs.push(...(opt('lowerdir')?.split(':') ?? []));
    } else if (m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind')) {
      dirs.push(m.source);
    }
  }
  return dirs;
}

async function readFirst(dirs: string[], rel: string): Promise<string | undefined> {
  for (const d of dirs) {
    try {
      return await fs.readFile(path.join(d, rel), 'utf8');
    } catch {
      // not in this layer
    }
  }
  return undefined;
}

export class ContainerManager {
  readonly store = new ContainerStore();
  private readonly reservations = new NameReservations<string>();
  private readonly io = new Map<string, ContainerIo>();
  private host: { oom: number; caps: string[]; support: ResourceSupport } | undefined;
  private loaded: Promise<void> | undefined;
  /**
   * What each container is doing, kept in memory so that kubelet's frequent list and status calls
   * need no containerd round trip: rebuilt from labels and tasks at load, then kept current by
   * crisp's own start and the EventMonitor's exits (which also reconciles after outages).
   */
  private readonly runtime = new Map<string, ContainerState>();
  /** Rootfs mounts from CreateContainer's Prepare, so StartContainer needs no Snapshots.Mounts call. */
  private readonly preparedMounts = new Map<string, Awaited<ReturnType<ContainerdClient['snapshots']['prepare']>>['mounts']>();
  /** /etc/passwd and /etc/group per image layer chain (see imageEtcFiles). */
  private readonly etcFiles = new Map<string, UserFiles>();
  /** Each container's ListContainers entry, encoded, with the state it was encoded in. */
  private readonly encoded = new Map<string, { state: cri.ContainerState; bytes: Uint8Array }>();
  /** The last ListContainers answer, reused while its containers' encodings are unchanged. */
  private readonly listAnswer = new PreEncodedListCache();
  /**
   * Each container's non-verbose ContainerStatus answer, encoded, with the record and state objects it
   * was made from: both are replaced (never changed in place) when anything in them changes.
   */
  private readonly statusEncoded = new Map<string, { rec: ContainerRecord; st: ContainerState; answer: PreEncodedMessage }>();
  /** StartContainer calls under way: a second start of the same container is refused. */
  private readonly starting = new Set<string>();
  /** Exit handling under way, by container: Remove waits for it so events stay in order. */
  private readonly exiting = new Map<string, Promise<void>>();
  /** linux.cgroupsPath of the specs crisp made in this process (the monitor's OOM fallback reads it). */
  private readonly cgroupsPaths = new Map<string, string>();
  /**
   * Containers whose task this process created: the EventMonitor handles their events from memory
   * (see KnownContainer), with no Containers.Get before each label write.
   */
  private readonly ownTasks = new Set<string>();
  /** Containers whose task crisp deleted after its exit: RemoveContainer needs no Tasks.Delete of its own. */
  private readonly tasksDeleted = new Set<string>();
  /** Events are published one after the other, in the order they happened. */
  private publishing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: ContainerDeps) {
    // Image resolutions are kept between CreateContainer calls while the monitor hears image events.
    imageGroupsCacheFor(deps.containerd).follow(deps.monitor);
    deps.monitor.addKnownContainers((id) => (this.ownTasks.has(id) ? { kind: 'container', cgroupsPath: this.cgroupsPaths.get(id) } : undefined));
    deps.monitor.onExit((exit) => {
      // An amended record corrects one already handled (a late OOM, a real exit after an Unknown).
      if (exit.kind !== 'container') return;
      const prev = this.runtime.get(exit.containerId);
      if (prev) {
        this.runtime.set(exit.containerId, {
          state: cri.ContainerState.CONTAINER_EXITED,
          startedAt: prev.startedAt > exit.exitedAt ? exit.exitedAt : prev.startedAt,
          finishedAt: exit.exitedAt,
          exitCode: exit.exitCode,
          reason: exit.reason,
          message: '',
          pid: 0,
        });
      }
      if (!exit.amended) {
        const done = this.exited(exit).finally(() => this.exiting.delete(exit.containerId));
        this.exiting.set(exit.containerId, done);
      }
    });
  }

  private get log(): Logger {
    return this.deps.logger;
  }

  /** Rebuilds the store from containerd and re-attaches the logs of running containers. */
  startLoading(): void {
    this.loaded ??= (async () => {
      for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
        try {
          await this.store.load(this.deps.containerd, this.log);
          await this.reattach();
          this.log.info({ containers: this.store.all().length }, 'containers loaded from containerd');
          return;
        } catch (err) {
          this.log.warn({ err, retryMs: delay }, 'cannot load containers from containerd yet');
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })();
  }

  ready(): Promise<void> {
    this.startLoading();
    return this.loaded!;
  }

  private async hostFacts(): Promise<{ oom: number; caps: string[]; support: ResourceSupport }> {
    this.host ??= { oom: await readOwnOomScoreAdj(), caps: await readOwnCapabilities(), support: await detectResourceSupport() };
    return this.host;
  }

  private ioDir(): string {
    return path.join(this.deps.config.stateDir, 'io');
  }

  private volumeRoot(id: string): string {
    return path.join(this.deps.config.stateDir, 'containers', id, 'volumes');
  }

  // --- create -------------------------------------------------------------------------------------

  async create(req: cri.CreateContainerRequest): Promise<string> {
    await Promise.all([this.ready(), this.deps.sandboxes.ready()]);
    const config = req.config;
    const md = config?.metadata;
    if (!config || !md || !md.name) throw invalidArgument('CreateContainer: config.metadata.name is required');
    if (!config.image?.image) throw invalidArgument('CreateContainer: config.image.image is required');
    const sandbox = this.deps.sandboxes.store.mustFind(req.podSandboxId);
    const key = `${md.name}_${sandbox.id}_${md.attempt}`;
    const hash = configHash({ config, sandbox: sandbox.id });
    return this.reservations.run(
      key,
      hash,
      () => randomBytes(32).toString('hex'),
      (id) => this.createNew(id, sandbox.id, config, hash),
      () => {
        const rec = this.store.byName(sandbox.id, md.name, md.attempt);
        return rec ? { id: rec.id, configHash: rec.configHash, value: rec.id } : undefined;
      },
      'container',
    );
  }

  private async createNew(id: string, sandboxId: string, config: cri.ContainerConfig, hash: string): Promise<string> {
    const { containerd, config: cfg } = this.deps;
    const signal = ownSignal();
    const log = this.log.child({ containerId: id, podSandboxId: sandboxId });
    const sandbox = this.deps.sandboxes.store.mustFind(sandboxId);
    const { state, pid } = await this.deps.sandboxes.state(sandbox.id, signal);
    if (state !== cri.PodSandboxState.SANDBOX_READY) throw failedPrecondition(`pod sandbox ${sandbox.id} is not ready`);
    const image = await resolveImageCached(this.deps.ctx(), config.image!.image, signal);
    if (!image) throw notFound(`image "${config.image!.image}" not found: pull it first`);
    const runtime = image.metadata.runtime;
    const host = await this.hostFacts();
    const snapshotter = cfg.containerd.snapshotter;
    const undo: { what: string; fn: () => Promise<unknown> }[] = [];
    try {
      // Seccomp Localhost profiles are read before anything is made: a missing one is the caller's error.
      const seccomp = containerSeccompChoice(config);
      const localhostSeccomp = seccomp.kind === 'localhost' ? await readLocalhostSeccomp(seccomp.path) : undefined;

      const lease = await this.deps.leases.take(signal);
      const leased = withLease(lease, { signal });
      try {
        const { mounts } = await containerd.snapshots.prepare(
          { snapshotter, key: id, parent: image.metadata.chainId ?? '', labels: snapshotLabels('container', id) },
          leased,
        );
        undo.push({ what: 'snapshot', fn: () => containerd.snapshots.remove({ snapshotter, key: id }) });

        const etcFiles = await this.imageEtcFiles(`${snapshotter}/${image.metadata.chainId ?? ''}`, mounts);
        const volumeRoot = this.volumeRoot(id);
        const volumeDir = (p: string): string => path.join(volumeRoot, createHash('sha256').update(p).digest('hex').slice(0, 16));
        const hostPaths = containerHostPaths({ config, imageConfig: runtime, volumeDir });
        undo.push({ what: 'volumes', fn: () => fs.rm(path.join(cfg.stateDir, 'containers', id), { recursive: true, force: true }) });
        await Promise.all([...hostPaths.mountSources, ...hostPaths.volumeDirs].map((d) => fs.mkdir(d, { recursive: true })));

        const privileged = config.linux?.securityContext?.privileged ?? false;
        const spec: Spec = buildContainerSpec({
          id,
          config,
          sandbox: { id: sandbox.id, config: sandbox.config, netnsPath: sandbox.netnsPath, pid, files: sandboxFilePaths(cfg.stateDir, sandbox.id), devShmPath: sandbox.devShmPath },
          imageConfig: runtime,
          imageName: config.image!.image,
          etcFiles,
          nodeHostname: os.hostname(),
          cgroupDriver: cfg.cgroupDriver,
          containerdNamespace: cfg.containerd.namespace,
          ownOomScoreAdj: host.oom,
          ownCapabilities: host.caps,
          resourceSupport: host.support,
          volumeDir,
          localhostSeccomp,
          ...(config.devices.length > 0 ? { deviceLookup: await readHostDeviceLookup(config.devices.map((d) => d.hostPath)) } : {}),
          ...(privileged ? { hostDevices: (await readHostDevices()) ?? [] } : {}),
        });
        const user = containerUser(config, runtime.user, etcFiles);
        const logDir = sandbox.config.logDirectory;
        const record: ContainerRecord = {
          id,
          config,
          sandboxId: sandbox.id,
          configHash: hash,
          image: config.image!.image,
          imageId: image.id,
          imageRef: image.repoDigests[0] ?? image.id,
          logPath: logDir && config.logPath ? path.join(logDir, config.logPath) : '',
          createdAt: nowNanos().toString(),
          uid: Number(user.uid),
          gid: Number(user.gid),
          additionalGids: user.additionalGids.map(Number),
          stopSignal: stopSignalOf(runtime.stopSignal, config.stopSignal),
          volumeDirs: hostPaths.volumeDirs,
        };
        const sandboxRuntime = this.deps.config.runtimes[sandbox.runtimeHandler];
        await containerd.containers.create(
          {
            container: {
              id,
              image: image.records[0]?.name ?? config.image!.image,
              labels: containerLabels(sandbox.id, config.metadata!.name),
              runtime: { name: sandbox.runtime || sandboxRuntime?.runtimeType || 'io.containerd.runc.v2', options: undefined },
              spec: packSpec(spec),
              snapshotter,
              snapshotKey: id,
              extensions: containerExtensions(config, record),
              sandbox: '',
            },
          },
          leased,
        );
        undo.push({ what: 'container', fn: () => containerd.containers.delete({ id }) });
        this.store.add(record);
        if (spec.linux?.cgroupsPath) this.cgroupsPaths.set(id, spec.linux.cgroupsPath);
        this.preparedMounts.set(id, mounts);
        this.runtime.set(id, { state: cri.ContainerState.CONTAINER_CREATED, startedAt: 0n, finishedAt: 0n, exitCode: 0, reason: '', message: '', pid: 0 });
        // The container now references the snapshot: the lease has done its job, and its deletion
        // need not hold up the answer.
        void this.deps.leases.release(lease).catch((err: unknown) => log.warn({ err }, 'could not delete container lease'));
      } catch (err) {
        await this.deps.leases.release(lease).catch((e: unknown) => log.warn({ err: e }, 'could not delete container lease'));
        throw err;
      }
      log.info({ name: config.metadata!.name, image: config.image!.image }, 'container created');
      void this.publish(id, sandbox.id, cri.ContainerEventType.CONTAINER_CREATED_EVENT);
      return id;
    } catch (err) {
      for (const step of undo.reverse()) {
        try {
          await step.fn();
        } catch (cleanupErr) {
          if (!isNotFound(cleanupErr)) log.warn({ err: cleanupErr, step: step.what }, 'cleanup after failed CreateContainer');
        }
      }
      throw err;
    }
  }

  /**
   * The image's /etc/passwd and /etc/group, read from the new snapshot's directories. The snapshot is
   * fresh, so they are its image's: kept per image layer chain (committed layers don't change).
   */
  private async imageEtcFiles(chainKey: string, mounts: { type: string; source: string; options: string[] }[]): Promise<UserFiles> {
    const cached = this.etcFiles.get(chainKey);
    if (cached) {
      // Most recently used last: the first key is the one to drop.
      this.etcFiles.delete(chainKey);
      this.etcFiles.set(chainKey, cached);
      return cached;
    }
    const dirs = rootfsDirs(mounts);
    const [passwd, group] = await Promise.all([readFirst(dirs, 'etc/passwd'), readFirst(dirs, 'etc/group')]);
    const files: UserFiles = { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
    if (!chainKey.endsWith('/') && (passwd?.length ?? 0) + (group?.length ?? 0) <= ETC_FILES_CACHE_MAX_BYTES) {
      if (this.etcFiles.size >= ETC_FILES_CACHE_ENTRIES) this.etcFiles.delete(this.etcFiles.keys().next().value as string);
      this.etcFiles.set(chainKey, files);
    }
    return files;
  }

  // --- start --------------------------------------------------------------------------------------

  async start(idOrPrefix: string): Promise<void> {
    await this.ready();
    const rec = this.store.mustFind(idOrPrefix);
    const { containerd } = this.deps;
    const signal = ownSignal();
    if (this.stateOf(rec.id).state !== cri.ContainerState.CONTAINER_CREATED || this.starting.has(rec.id)) {
      throw failedPrecondition(`container ${rec.id} is not in the CREATED state`);
    }
    this.starting.add(rec.id);
    const log = this.log.child({ containerId: rec.id });
    let io: ContainerIo | undefined;
    try {
      io = await this.openIo(rec, true);
      const mounts =
        this.preparedMounts.get(rec.id) ??
        (await containerd.snapshots.mounts({ snapshotter: this.deps.config.containerd.snapshotter, key: rec.id }, { signal })).mounts;
      this.preparedMounts.delete(rec.id);
      // Before the task exists: its /tasks/start event may be handled before tasks.start returns.
      if (this.cgroupsPaths.has(rec.id)) this.ownTasks.add(rec.id);
      await containerd.tasks.create(
        {
          containerId: rec.id,
          rootfs: mounts,
          stdin: io.fifos.stdin ?? '',
          stdout: io.fifos.stdout,
          stderr: io.fifos.stderr ?? '',
          terminal: rec.config.tty,
          runtimePath: '',
        },
        { signal },
      );
      const startedAt = nowNanos();
      try {
        await containerd.tasks.start({ containerId: rec.id, execId: '' }, { signal });
      } catch (err) {
        await containerd.tasks.delete({ containerId: rec.id }).catch(() => undefined);
        throw err;
      }
      // The EventMonitor writes the durable started-at label from containerd's /tasks/start event.
      this.runtime.set(rec.id, { ...this.stateOf(rec.id), state: cri.ContainerState.CONTAINER_RUNNING, startedAt });
      log.info('container started');
      void this.publish(rec.id, rec.sandboxId, cri.ContainerEventType.CONTAINER_STARTED_EVENT);
    } catch (err) {
      // The container is EXITED with ContainerCannotRun from here on, as the peers report it; the
      // labels written below are not the monitor's, so it must read them back from now on.
      this.ownTasks.delete(rec.id);
      if (io) await this.closeIo(rec.id, false);
      const message = err instanceof Error ? err.message : String(err);
      const now = nowNanos();
      this.runtime.set(rec.id, {
        state: cri.ContainerState.CONTAINER_EXITED,
        startedAt: 0n,
        finishedAt: now,
        exitCode: START_FAILED_EXIT_CODE,
        reason: 'ContainerCannotRun',
        message,
        pid: 0,
      });
      await containerd.containers
        .update(
          {
            container: this.labelUpdate(rec.id, {
              ...encodeExitLabels({ exitCode: START_FAILED_EXIT_CODE, exitedAt: now, reason: 'Error' }),
              [START_ERROR_LABEL]: message.slice(0, 4000),
            }),
            updateMask: [...EXIT_UPDATE_MASK, `labels.${START_ERROR_LABEL}`],
          },
          { signal },
        )
        .catch((e: unknown) => log.warn({ err: e }, 'could not record the start failure'));
      throw err;
    } finally {
      this.starting.delete(rec.id);
    }
  }

  private labelUpdate(id: string, labels: Record<string, string>) {
    return { id, labels, image: '', snapshotter: '', snapshotKey: '', extensions: {}, sandbox: '' };
  }

  /** FIFOs and the CRI log writer of a container; `fresh` makes new FIFOs, else reopens existing ones. */
  private async openIo(rec: ContainerRecord, fresh: boolean): Promise<ContainerIo> {
    const tty = rec.config.tty;
    const fifos = fresh
      ? await createFifos(this.ioDir(), rec.id, { stdin: rec.config.stdin, tty })
      : {
          dir: path.join(this.ioDir(), rec.id),
          stdout: path.join(this.ioDir(), rec.id, 'stdout'),
          ...(tty ? {} : { stderr: path.join(this.ioDir(), rec.id, 'stderr') }),
          ...(rec.config.stdin ? { stdin: path.join(this.ioDir(), rec.id, 'stdin') } : {}),
        };
    const stdout = await openFifoReader(fifos.stdout);
    let stderr: Awaited<ReturnType<typeof openFifoReader>> | undefined;
    let logger: ContainerLogger;
    try {
      stderr = fifos.stderr ? await openFifoReader(fifos.stderr) : undefined;
      logger = await ContainerLogger.open({
        ...(rec.logPath ? { path: rec.logPath } : {}),
        stdout,
        ...(stderr ? { stderr } : {}),
        logger: this.log.child({ containerId: rec.id, component: 'logs' }),
      });
    } catch (err) {
      stdout.close();
      stderr?.close();
      throw err;
    }
    const stdin = fifos.stdin ? await openFifoWriter(fifos.stdin).catch(async (err: unknown) => {
      await logger.close({ waitForEof: false });
      throw err;
    }) : undefined;
    const io: ContainerIo = { logger, fifos, ...(stdin ? { stdin } : {}) };
    this.io.set(rec.id, io);
    return io;
  }

  private async closeIo(id: string, waitForEof: boolean): Promise<void> {
    const io = this.io.get(id);
    if (!io) return;
    this.io.delete(id);
    io.stdin?.destroy();
    await io.logger.close({ waitForEof });
  }

  /**
   * At load: every container's state from one Containers.List and one Tasks.List, and after a crisp
   * restart, running containers' output goes to their log files again.
   */
  private async reattach(): Promise<void> {
    const [{ containers }, { tasks }] = await Promise.all([
      this.deps.containerd.containers.list({ filters: [kindFilter('container')] }),
      this.deps.containerd.tasks.list({ filter: '' }),
    ]);
    const taskById = new Map(tasks.map((t) => [t.id, { status: t.status, exitStatus: t.exitStatus, pid: t.pid, exitedAt: timestampToCriNanos(t.exitedAt) }]));
    for (const c of containers) {
      const rec = this.store.get(c.id);
      if (!rec) continue;
      const t = taskById.get(c.id);
      this.runtime.set(rec.id, containerState(c.labels, t));
      if (this.io.has(rec.id) || t?.status !== task.Status.RUNNING) continue;
      try {
        await this.openIo(rec, false);
      } catch (err) {
        this.log.warn({ containerId: rec.id, err }, 'could not re-attach to the container output');
      }
    }
  }

  /** Attach: a running container's output tee and stdin writer (if it has stdin); undefined when crisp holds no I/O for it. */
  attachIo(id: string): { logger: ContainerLogger; stdin?: FifoWriter } | undefined {
    const io = this.io.get(id);
    return io && { logger: io.logger, ...(io.stdin ? { stdin: io.stdin } : {}) };
  }

  /** The container's state as crisp tracks it (see `runtime`). */
  stateOf(id: string): ContainerState {
    return (
      this.runtime.get(id) ?? {
        state: cri.ContainerState.CONTAINER_UNKNOWN,
        startedAt: 0n,
        finishedAt: 0n,
        exitCode: 0,
        reason: '',
        message: '',
        pid: 0,
      }
    );
  }

  /** The monitor recorded an exit: drain the output, free the shim, tell subscribers. */
  private async exited(exit: ExitRecord): Promise<void> {
    const rec = this.store.get(exit.containerId);
    if (!rec) return;
    try {
      // Side by side: the output already written stays readable in the FIFOs after the shim lets go of them.
      await Promise.all([
        this.closeIo(rec.id, true),
        this.deps.containerd.tasks.delete({ containerId: rec.id }).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        }),
      ]);
      // No StartContainer can follow an exit, so the task stays gone until the container is removed.
      this.tasksDeleted.add(rec.id);
      void this.publish(rec.id, rec.sandboxId, cri.ContainerEventType.CONTAINER_STOPPED_EVENT);
    } catch (err) {
      this.log.warn({ containerId: rec.id, err }, 'clean-up after the container exited failed');
    }
  }

  private async task(id: string, signal?: AbortSignal): Promise<TaskInfo | undefined> {
    try {
      const { process } = await this.deps.containerd.tasks.get({ containerId: id, execId: '' }, { signal });
      return process ? { status: process.status, exitStatus: process.exitStatus, pid: process.pid, exitedAt: timestampToCriNanos(process.exitedAt) } : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  // --- stop / remove ------------------------------------------------------------------------------

  /** Stop signal, then SIGKILL after `timeoutSeconds` (0: at once). Idempotent; unknown ids are success. */
  async stop(idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    await this.ready();
    const rec = this.store.find(idOrPrefix);
    if (!rec) return;
    const { containerd } = this.deps;
    const signal = ownSignal();
    // crisp's own state settles the two common cases without asking containerd: an exit already
    // recorded (nothing to stop), and a task crisp started and saw no exit of (running: kill it).
    const known = this.starting.has(rec.id) ? cri.ContainerState.CONTAINER_UNKNOWN : this.stateOf(rec.id).state;
    if (known === cri.ContainerState.CONTAINER_EXITED) return;
    if (known !== cri.ContainerState.CONTAINER_RUNNING) {
      const t = await this.task(rec.id, signal);
      if (!t || t.status === task.Status.STOPPED) return;
    }
    let taskGone = false;
    const exited = containerd.tasks.wait({ containerId: rec.id, execId: '' }, { signal }).catch((err: unknown) => {
      // No task after all (it vanished unseen): there is no exit to wait for.
      if (!isNotFound(err)) throw err;
      taskGone = true;
    });
    exited.catch(() => undefined);
    const kill = (sig: number): Promise<unknown> =>
      containerd.tasks.kill({ containerId: rec.id, execId: '', signal: sig, all: true }, { signal }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
    if (timeoutSeconds > 0) {
      await kill(rec.stopSignal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutSeconds * 1000))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.log.info({ containerId: rec.id, timeoutSeconds }, 'container ignored its stop signal: killing it');
        await kill(SIGKILL);
      }
    } else {
      await kill(SIGKILL);
    }
    await exited;
    // Return once the exit is recorded, so that a status right after shows it.
    if (!taskGone) await this.deps.monitor.waitForExit(rec.id, AbortSignal.timeout(10_000)).catch(() => undefined);
  }

  /** Stops if needed and removes task, container, snapshot, FIFOs and volumes; the log file stays (kubelet owns it). */
  async remove(idOrPrefix: string): Promise<void> {
    await this.ready();
    const rec = this.store.find(idOrPrefix);
    if (!rec) return;
    const { containerd } = this.deps;
    const signal = ownSignal();
    await this.stop(rec.id, 0);
    await this.exiting.get(rec.id);
    await this.closeIo(rec.id, false);
    const ignoreGone = (err: unknown): void => {
      if (!isNotFound(err)) throw err;
    };
    if (!this.tasksDeleted.has(rec.id)) await containerd.tasks.delete({ containerId: rec.id }, { signal }).catch(ignoreGone);
    // Independent of each other once the task is gone (a snapshot may go before the container that names it).
    await Promise.all([
      containerd.containers.delete({ id: rec.id }, { signal }).catch(ignoreGone),
      containerd.snapshots.remove({ snapshotter: this.deps.config.containerd.snapshotter, key: rec.id }, { signal }).catch(ignoreGone),
      removeFifos(path.join(this.ioDir(), rec.id)),
      fs.rm(path.join(this.deps.config.stateDir, 'containers', rec.id), { recursive: true, force: true }),
    ]);
    this.store.delete(rec.id);
    this.ownTasks.delete(rec.id);
    this.tasksDeleted.delete(rec.id);
    this.cgroupsPaths.delete(rec.id);
    this.runtime.delete(rec.id);
    this.preparedMounts.delete(rec.id);
    this.encoded.delete(rec.id);
    this.statusEncoded.delete(rec.id);
    this.log.info({ containerId: rec.id }, 'container removed');
    void this.publish(rec.id, rec.sandboxId, cri.ContainerEventType.CONTAINER_DELETED_EVENT);
  }

  async stopAllIn(sandboxId: string): Promise<void> {
    await this.ready();
    await Promise.all(this.store.inSandbox(sandboxId).map((c) => this.stop(c.id, 0)));
  }

  async removeAllIn(sandboxId: string): Promise<void> {
    await this.ready();
    await Promise.all(this.store.inSandbox(sandboxId).map((c) => this.remove(c.id)));
  }

  // --- status / list ------------------------------------------------------------------------------

  criStatus(rec: ContainerRecord, st: ContainerState): cri.ContainerStatus {
    const c = rec.config;
    return {
      id: rec.id,
      metadata: c.metadata,
      state: st.state,
      createdAt: BigInt(rec.createdAt),
      startedAt: st.startedAt,
      finishedAt: st.finishedAt,
      exitCode: st.exitCode,
      image: c.image ?? cri.ImageSpec.fromPartial({ image: rec.image }),
      imageRef: rec.imageRef,
      reason: st.reason,
      message: st.message,
      labels: c.labels,
      annotations: c.annotations,
      mounts: c.mounts,
      logPath: rec.logPath,
      resources: c.linux?.resources ? { linux: c.linux.resources } : undefined,
      imageId: rec.imageId,
      user: { linux: { uid: BigInt(rec.uid), gid: BigInt(rec.gid), supplementalGroups: rec.additionalGids.map(BigInt) } },
      stopSignal: cri.Signal.RUNTIME_DEFAULT,
    };
  }

  /** From memory; only `verbose` asks containerd (for the spec and the pid). */
  async status(idOrPrefix: string, verbose: boolean, signal: AbortSignal): Promise<cri.ContainerStatusResponse> {
    await this.ready();
    const rec = this.store.mustFind(idOrPrefix);
    const st = this.stateOf(rec.id);
    const info: Record<string, string> = {};
    if (verbose) {
      const [{ container }, t] = await Promise.all([this.deps.containerd.containers.get({ id: rec.id }, { signal }), this.task(rec.id, signal)]);
      info['info'] = JSON.stringify({
        pid: t && t.status !== task.Status.STOPPED ? t.pid : 0,
        sandboxID: rec.sandboxId,
        snapshotKey: rec.id,
        snapshotter: container?.snapshotter,
        runtimeSpec: container?.spec?.typeUrl === OCI_SPEC_TYPE_URL ? unpackSpec(container.spec) : undefined,
        logPath: rec.logPath,
      });
    }
    return { status: this.criStatus(rec, st), info };
  }

  /** The non-verbose ContainerStatus answer, encoded once per change of the container (see server/pre-encoded.ts). */
  async statusEncodedOf(idOrPrefix: string): Promise<PreEncodedMessage> {
    await this.ready();
    const rec = this.store.mustFind(idOrPrefix);
    const st = this.stateOf(rec.id);
    const cached = this.statusEncoded.get(rec.id);
    if (cached && cached.rec === rec && cached.st === st) return cached.answer;
    // fromPartial then encode: exactly what the gRPC layer sends for a plain response.
    const res = cri.ContainerStatusResponse.fromPartial({ status: this.criStatus(rec, st), info: {} });
    const answer = new PreEncodedMessage(cri.ContainerStatusResponse.encode(res).finish());
    this.statusEncoded.set(rec.id, { rec, st, answer });
    return answer;
  }

  /** From memory: kubelet lists every second, whatever the number of containers. */
  async list(filter: cri.ContainerFilter | undefined, _signal?: AbortSignal): Promise<cri.Container[]> {
    await this.ready();
    return this.matching(filter).map(([rec, st]) => this.criContainer(rec, st));
  }

  /** ListContainers' answer, each container encoded once per state change (see server/pre-encoded.ts). */
  async listEncoded(filter: cri.ContainerFilter | undefined): Promise<PreEncodedList> {
    await this.ready();
    return this.listAnswer.answer(
      this.matching(filter).map(([rec, st]) => {
        const cached = this.encoded.get(rec.id);
        if (cached && cached.state === st.state) return cached.bytes;
        const bytes = cri.Container.encode(this.criContainer(rec, st)).finish();
        this.encoded.set(rec.id, { state: st.state, bytes });
        return bytes;
      }),
    );
  }

  private matching(filter: cri.ContainerFilter | undefined): [ContainerRecord, ContainerState][] {
    const out: [ContainerRecord, ContainerState][] = [];
    for (const rec of this.store.all()) {
      const st = this.stateOf(rec.id);
      if (filter) {
        if (!matchesId(filter.id, rec.id)) continue;
        if (filter.podSandboxId && !rec.sandboxId.startsWith(filter.podSandboxId)) continue;
        if (filter.state && filter.state.state !== st.state) continue;
        if (!matchesLabels(filter.labelSelector, rec.config.labels)) continue;
      }
      out.push([rec, st]);
    }
    return out.sort(([a], [b]) => compareDecimal(a.createdAt, b.createdAt));
  }

  private criContainer(rec: ContainerRecord, st: ContainerState): cri.Container {
    return {
      id: rec.id,
      podSandboxId: rec.sandboxId,
      metadata: rec.config.metadata,
      image: rec.config.image,
      imageRef: rec.imageRef,
      state: st.state,
      createdAt: BigInt(rec.createdAt),
      labels: rec.config.labels,
      annotations: rec.config.annotations,
      imageId: rec.imageId,
    };
  }

  // --- logs / resources ---------------------------------------------------------------------------

  async reopenLog(idOrPrefix: string): Promise<void> {
    await this.ready();
    const rec = this.store.mustFind(idOrPrefix);
    const io = this.io.get(rec.id);
    const t = await this.task(rec.id);
    if (!io || !t || t.status !== task.Status.RUNNING) throw failedPrecondition(`container ${rec.id} is not running: its log cannot be reopened`);
    await io.logger.reopen();
  }

  async updateResources(idOrPrefix: string, resources: cri.LinuxContainerResources | undefined, signal: AbortSignal): Promise<void> {
    await this.ready();
    const rec = this.store.mustFind(idOrPrefix);
    if (!resources) return;
    const host = await this.hostFacts();
    const { containerd } = this.deps;
    const { container } = await containerd.containers.get({ id: rec.id }, { signal });
    if (!container?.spec) throw notFound(`container ${rec.id} has no spec`);
    const spec = unpackSpec<Spec>(container.spec);
    const oci = toOciResources(resources, host.support, spec.linux?.resources, `container ${rec.id}`);
    const t = await this.task(rec.id, signal);
    if (t && t.status !== task.Status.STOPPED) {
      await containerd.tasks.update({ containerId: rec.id, resources: packJson(LINUX_RESOURCES_TYPE_URL, oci), annotations: {} }, { signal });
    }
    spec.linux = { ...(spec.linux ?? {}), resources: oci };
    const config = { ...rec.config, linux: { ...(rec.config.linux ?? cri.LinuxContainerConfig.fromPartial({})), resources } };
    const updated: ContainerRecord = { ...rec, config };
    await containerd.containers.update(
      {
        container: { id: rec.id, labels: {}, image: '', snapshotter: '', snapshotKey: '', sandbox: '', spec: packSpec(spec), extensions: containerExtensions(config, updated) },
        updateMask: ['spec', 'extensions'],
      },
      { signal },
    );
    this.store.add(updated);
  }

  // --- events -------------------------------------------------------------------------------------

  private publish(id: string, sandboxId: string, type: cri.ContainerEventType): Promise<void> {
    this.publishing = this.publishing.then(() => this.publishNow(id, sandboxId, type));
    return this.publishing;
  }

  private async publishNow(id: string, sandboxId: string, type: cri.ContainerEventType): Promise<void> {
    if (this.deps.events.subscriberCount === 0) return;
    try {
      const sandbox = this.deps.sandboxes.store.get(sandboxId);
      const signal = AbortSignal.timeout(10_000);
      const podSandboxStatus = sandbox ? criPodSandboxStatus(sandbox, (await this.deps.sandboxes.state(sandboxId, signal)).state) : undefined;
      const containersStatuses = this.store.inSandbox(sandboxId).map((rec) => this.criStatus(rec, this.stateOf(rec.id)));
      this.deps.events.publish({ containerId: id, containerEventType: type, createdAt: nowNanos(), podSandboxStatus, containersStatuses });
    } catch (err) {
      this.log.debug({ containerId: id, err }, 'could not publish a container event');
    }
  }
}
