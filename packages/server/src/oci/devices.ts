// Devices: CRI Device requests → OCI linux.devices (the nodes runc creates in the container's /dev) and device
// cgroup rules, and the host's device nodes a privileged container gets. The builders stay pure: the caller
// reads the host's nodes first (readHostDevices / readHostDeviceLookup, the only I/O here) and passes them in.
// Directory and skip rules are containerd's (oci.WithDevices / HostDevices): a directory stands for the device
// nodes under it, recursively, without pts, shm, fd, mqueue, .lxc, .lxd-mounts, .udev and "console".
import type { cri } from '@crisp/api';
import type { BigIntStats, Dirent } from 'node:fs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { internal, invalidArgument, notFound } from '../errors';
import type { LinuxDevice, LinuxDeviceCgroup } from './types';

/** A device node on the host. */
export interface HostDevice {
  /** Its path on the host: the looked-up path itself, or a path under it when that is a directory. */
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits (st_mode & 07777). */
  fileMode: number;
  uid: number;
  gid: number;
}

/**
 * The device nodes at a host path: one entry whose `path` is `hostPath` itself for a device (symlinks
 * followed), the nodes under it (paths below `hostPath`) for a directory, undefined when nothing is there.
 */
export type HostDeviceLookup = (hostPath: string) => readonly HostDevice[] | undefined;

/** The cgroup access of a request that gives none (kubelet always sends one; crictl users may not). */
export const DEFAULT_DEVICE_ACCESS = 'rwm';

const SKIPPED_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);
const SKIPPED_FILES = new Set(['console']);

/** CRI permissions ("rw", "mrw", …) → the cgroup access string in r, w, m order; other letters are refused. */
export function deviceAccess(permissions: string, what = 'device'): string {
  if (permissions === '') return DEFAULT_DEVICE_ACCESS;
  if (!/^[rwm]+$/.test(permissions)) {
    throw invalidArgument(`${what}: invalid permissions "${permissions}": only r, w and m are allowed`);
  }
  return ['r', 'w', 'm'].filter((c) => permissions.includes(c)).join('');
}

/** Major and minor number of a Linux dev_t (glibc's encoding, as in st_rdev). */
export function devNumbers(rdev: bigint | number): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

function isAbsoluteClean(p: string): boolean {
  return p.startsWith('/') && !p.includes('\0');
}

/**
 * The linux.devices entries and device cgroup rules for the CRI's device requests. An empty container path
 * means the host path; a directory maps each node under it to the same place under the container path.
 * A host path with no device is NOT_FOUND.
 */
export function containerDevices(
  requests: readonly cri.Device[],
  lookup: HostDeviceLookup | undefined,
): { devices: LinuxDevice[]; rules: LinuxDeviceCgroup[] } {
  const devices: LinuxDevice[] = [];
  const rules: LinuxDeviceCgroup[] = [];
  for (const [i, req] of requests.entries()) {
    const what = `devices[${i}]`;
    if (req.hostPath === '') throw invalidArgument(`${what}: host_path is empty`);
    if (!isAbsoluteClean(req.hostPath)) throw invalidArgument(`${what}: host_path "${req.hostPath}" is not an absolute path`);
    const target = req.containerPath === '' ? req.hostPath : req.containerPath;
    if (!isAbsoluteClean(target)) throw invalidArgument(`${what}: container_path "${target}" is not an absolute path`);
    const access = deviceAccess(req.permissions, what);
    if (!lookup) throw internal(`${what}: no device lookup was given to resolve ${req.hostPath}`);
    const found = lookup(req.hostPath);
    if (found === undefined) throw notFound(`${what}: device ${req.hostPath} does not exist on this node`);
    const hostRoot = path.posix.normalize(req.hostPath);
    const containerRoot = path.posix.normalize(target);
    for (const dev of found) {
      const hostPath = path.posix.normalize(dev.path);
      let containerPath: string;
      if (hostPath === hostRoot) {
        containerPath = containerRoot;
      } else if (hostPath.startsWith(`${hostRoot}/`)) {
        containerPath = path.posix.join(containerRoot, hostPath.slice(hostRoot.length));
      } else {
        throw internal(`${what}: the device lookup for ${req.hostPath} returned ${dev.path}, which is not under it`);
      }
      devices.push(linuxDevice(dev, containerPath));
      rules.push({ allow: true, type: dev.type, major: dev.major, minor: dev.minor, access });
    }
  }
  return { devices, rules };
}

/** A host device as a linux.devices entry at `containerPath` (default: the same path). */
export function linuxDevice(dev: HostDevice, containerPath = dev.path): LinuxDevice {
  return { path: containerPath, type: dev.type, major: dev.major, minor: dev.minor, fileMode: dev.fileMode, uid: dev.uid, gid: dev.gid };
}

function hostDevice(p: string, st: BigIntStats): HostDevice | undefined {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (type === undefined) return undefined;
  return { path: p, type, ...devNumbers(st.rdev), fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

const isMissing = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

async function walk(dir: string, out: HostDevice[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return; // removed while walking
    throw err;
  }
  for (const e of entries) {
    const p = path.posix.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIPPED_DIRS.has(e.name)) await walk(p, out);
      continue;
    }
    // Symlinks are not followed inside a directory (lstat), as in containerd.
    if (SKIPPED_FILES.has(e.name) || e.isSymbolicLink() || e.isFile() || e.isFIFO() || e.isSocket()) continue;
    try {
      const dev = hostDevice(p, await fs.lstat(p, { bigint: true }));
      if (dev) out.push(dev);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
}

/**
 * The device nodes at `hostPath` (see HostDeviceLookup): a device (a symlink to one is followed), or every
 * node under a directory; undefined when the path does not exist. A path that is neither a device nor a
 * directory is INVALID_ARGUMENT. With the default "/dev" this is the set a privileged container gets.
 */
export async function readHostDevices(hostPath = '/dev'): Promise<HostDevice[] | undefined> {
  let st: BigIntStats;
  try {
    st = await fs.stat(hostPath, { bigint: true });
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  const dev = hostDevice(hostPath, st);
  if (dev) return [dev];
  if (!st.isDirectory()) throw invalidArgument(`${hostPath} is neither a device nor a directory of devices`);
  const out: HostDevice[] = [];
  await walk(hostPath, out);
  return out;
}

/** Reads every path once (in parallel) and answers lookups from the result: the builder's deviceLookup. */
export async function readHostDeviceLookup(hostPaths: readonly string[]): Promise<HostDeviceLookup> {
  const unique = [...new Set(hostPaths)];
  const found = new Map(await Promise.all(unique.map(async (p) => [p, await readHostDevices(p)] as const)));
  return (p) => found.get(p);
}
