// linux.cgroupsPath from the cgroup parent kubelet sends and crisp's cgroup driver.
//   cgroupfs: "<parent>/<id>", e.g. /kubepods/besteffort/pod<uid>/<id>
//   systemd:  "<slice>:crisp:<id>", e.g. kubepods-besteffort-pod<uid>.slice:crisp:<id> — runc then creates
//             the transient unit crisp-<id>.scope in that slice (containerd uses the prefix "cri-containerd").
// kubelet and crisp must use the same driver; a parent of the other driver's shape is rejected with a message
// that says so instead of letting runc fail later.
import type { CgroupDriver } from '../config/schema';
import { invalidArgument } from '../errors';

export type { CgroupDriver };

/** The scope prefix of crisp's systemd units: crisp-<id>.scope. */
export const SYSTEMD_SCOPE_PREFIX = 'crisp';

/** The slice runc uses when none is given; crisp names it explicitly for a pod without a cgroup parent. */
export const SYSTEMD_DEFAULT_SLICE = 'system.slice';

/** Where containerd puts containers without a cgroup parent: /<containerd namespace>/<id>. */
export const DEFAULT_CGROUPFS_NAMESPACE = 'k8s.io';

/** Characters systemd accepts in a unit name (crisp also refuses ':' which would break "slice:prefix:name"). */
const UNIT_NAME = /^[A-Za-z0-9_.\\@-]+$/;

/**
 * The cgroupsPath of container (or sandbox) `id` under cgroup parent `parent`.
 * An empty parent means the pod has none (crictl without cgroup_parent): cgroupfs puts it under
 * /<namespace>/<id> as containerd does, systemd under system.slice.
 */
export function cgroupsPath(driver: CgroupDriver, parent: string, id: string, namespace = DEFAULT_CGROUPFS_NAMESPACE): string {
  validateId(id);
  switch (driver) {
    case 'cgroupfs':
      return cgroupfsPath(parent, id, namespace);
    case 'systemd':
      return systemdPath(parent, id);
    default:
      throw invalidArgument(`unknown cgroup driver "${String(driver)}"`);
  }
}

function validateId(id: string): void {
  if (id === '') throw invalidArgument('cgroups path: empty container id');
  if (id.includes('/') || id === '.' || id === '..') throw invalidArgument(`cgroups path: invalid container id "${id}"`);
  if (id.includes(':')) throw invalidArgument(`cgroups path: container id "${id}" must not contain ':'`);
}

function cgroupfsPath(parent: string, id: string, namespace: string): string {
  if (parent === '') return `/${namespace}/${id}`;
  if (isSystemdSlice(parent)) {
    throw invalidArgument(
      `cgroup parent "${parent}" is a systemd slice but crisp's cgroup_driver is "cgroupfs": kubelet and crisp must use the same cgroup driver`,
    );
  }
  if (!parent.startsWith('/')) throw invalidArgument(`cgroup parent "${parent}" must be an absolute path (cgroup_driver "cgroupfs")`);
  const parts = parent.split('/').filter((p) => p !== '');
  for (const p of parts) {
    if (p === '..' || p === '.') throw invalidArgument(`cgroup parent "${parent}" must not contain "${p}"`);
    if (p.includes(':')) throw invalidArgument(`cgroup parent "${parent}" must not contain ':'`);
  }
  return '/' + [...parts, id].join('/');
}

function systemdPath(parent: string, id: string): string {
  if (parent === '') return `${SYSTEMD_DEFAULT_SLICE}:${SYSTEMD_SCOPE_PREFIX}:${id}`;
  // kubelet sends the slice name (kubepods-besteffort-pod<uid>.slice); a path of slices
  // (/kubepods.slice/kubepods-besteffort.slice/...) names its last one, as in containerd.
  const parts = parent.split('/').filter((p) => p !== '');
  const slice = parts[parts.length - 1] ?? '';
  if (!slice.endsWith('.slice')) {
    throw invalidArgument(
      `cgroup parent "${parent}" is not a systemd slice (name ending in ".slice") but crisp's cgroup_driver is "systemd": ` +
        'kubelet and crisp must use the same cgroup driver',
    );
  }
  validateSliceName(parent, slice);
  return `${slice}:${SYSTEMD_SCOPE_PREFIX}:${id}`;
}

/** The checks runc's systemd driver makes when it expands a slice name into its path (a-b.slice → a.slice/a-b.slice). */
function validateSliceName(parent: string, slice: string): void {
  if (!UNIT_NAME.test(slice)) throw invalidArgument(`cgroup parent "${parent}": "${slice}" is not a valid systemd unit name`);
  if (slice === '-.slice') return; // the root slice
  const stem = slice.slice(0, -'.slice'.length);
  if (stem === '' || stem.startsWith('-') || stem.endsWith('-') || stem.includes('--')) {
    throw invalidArgument(`cgroup parent "${parent}": invalid slice name "${slice}" (empty part between dashes)`);
  }
}

function isSystemdSlice(parent: string): boolean {
  return parent.endsWith('.slice') && !parent.startsWith('/');
}
