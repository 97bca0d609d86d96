// The node facts the spec builders depend on, read from /proc and /sys. With oom.ts's readOwnOomScoreAdj these
// are the only functions of src/oci that do I/O: read them once at start and pass the results to the builders.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalidArgument, notFound } from '../errors';
import { parseCapabilityMask } from './capabilities';
import type { ResourceSupport } from './resources';
import { parseSeccompProfile } from './seccomp';
import type { LinuxSeccomp } from './types';

const CGROUP_ROOT = '/sys/fs/cgroup';
const CGROUP2_SUPER_MAGIC = 0x63677270;

/** The capabilities crisp holds (CapPrm of /proc/self/status): the most a container can be given. */
export async function readOwnCapabilities(procSelf = '/proc/self'): Promise<string[]> {
  const status = await fs.readFile(path.join(procSelf, 'status'), 'utf8');
  const line = status.split('\n').find((l) => l.startsWith('CapPrm:'));
  if (!line) throw new Error(`no CapPrm line in ${procSelf}/status`);
  return parseCapabilityMask(line.slice('CapPrm:'.length));
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Which cgroup features the node has, probed as containerd's CRI plugin does. */
export async function detectResourceSupport(cgroupRoot = CGROUP_ROOT, procSelf = '/proc/self'): Promise<ResourceSupport> {
  const st = await fs.statfs(cgroupRoot);
  const cgroupV2 = st.type === CGROUP2_SUPER_MAGIC;
  if (!cgroupV2) {
    return {
      cgroupV2,
      swap: await exists(path.join(cgroupRoot, 'memory', 'memory.memsw.limit_in_bytes')),
      hugetlb: await exists(path.join(cgroupRoot, 'hugetlb')),
    };
  }
  // memory.swap.max is absent from the root cgroup: look in crisp's own.
  const self = await fs.readFile(path.join(procSelf, 'cgroup'), 'utf8');
  const unified = self.split('\n').find((l) => l.startsWith('0::'))?.slice(3) ?? '/';
  const controllers = await fs.readFile(path.join(cgroupRoot, 'cgroup.controllers'), 'utf8').catch(() => '');
  return {
    cgroupV2,
    swap: await exists(path.join(cgroupRoot, unified, 'memory.swap.max')),
    hugetlb: controllers.split(/\s+/).includes('hugetlb'),
  };
}

/** Reads and parses a localhost seccomp profile; a missing or unreadable file is INVALID_ARGUMENT. */
export async function readLocalhostSeccomp(file: string): Promise<LinuxSeccomp> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    // A profile that is not on the node is NOT_FOUND (kubelet shows it as the pod's error); anything else is the request's fault.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`localhost seccomp profile ${file} does not exist on this node`);
    throw invalidArgument(`cannot read localhost seccomp profile ${file}: ${(err as Error).message}`);
  }
  return parseSeccompProfile(text, file);
}
