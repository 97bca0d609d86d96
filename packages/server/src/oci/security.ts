// Security settings shared by the sandbox and container builders: AppArmor (absent on crisp's nodes) and the
// privileged mode.
import { cri } from '@crisp/api';
import { invalidArgument } from '../errors';
import { allCapabilities, capabilitySets } from './capabilities';
import { allowAllDeviceRules } from './defaults';
import type { Spec } from './types';

/**
 * The AppArmor profile name to put in process.apparmorProfile, or undefined for none. Where AppArmor is not
 * enabled (crisp's nodes) a Localhost profile is refused (it cannot be honoured) and anything else is
 * ignored, as containerd does. Where it is enabled, Localhost profiles are used; crisp loads no default
 * profile of its own, so RuntimeDefault leaves the process unconfined.
 */
export function apparmorProfile(
  profile: cri.SecurityProfile | undefined,
  deprecated: string,
  privileged: boolean,
  enabled: boolean,
): string | undefined {
  let localhost: string | undefined;
  if (profile) {
    if (profile.profileType === cri.SecurityProfile_ProfileType.Localhost) {
      localhost = profile.localhostRef;
      if (localhost === '') throw invalidArgument('apparmor: profile_type Localhost needs localhost_ref');
    } else if (profile.localhostRef !== '') {
      throw invalidArgument('apparmor: localhost_ref must only be set when profile_type is Localhost');
    }
  } else if (deprecated.startsWith('localhost/')) {
    localhost = deprecated.slice('localhost/'.length);
  } else if (deprecated !== '' && deprecated !== 'runtime/default' && deprecated !== 'unconfined') {
    throw invalidArgument(`invalid apparmor_profile "${deprecated}": expected "runtime/default", "unconfined" or "localhost/<name>"`);
  }
  if (localhost === undefined || privileged) return undefined;
  if (!enabled) throw invalidArgument(`AppArmor profile "${localhost}" was requested but AppArmor is not enabled on this node`);
  return localhost;
}

/**
 * Makes a spec privileged: every capability crisp holds, access to all devices in the device cgroup, no
 * masked or read-only paths, writable /sys and cgroupfs, no seccomp or AppArmor. (Creating the host's device
 * nodes in the container is the container builder's job: it needs to read /dev.)
 */
export function applyPrivileged(spec: Spec, ownCapabilities?: readonly string[]): void {
  const process = spec.process;
  if (process) {
    process.capabilities = capabilitySets(allCapabilities(ownCapabilities));
    delete process.apparmorProfile;
  }
  for (const m of spec.mounts ?? []) {
    if ((m.type === 'sysfs' || m.type === 'cgroup') && m.options) {
      m.options = m.options.map((o) => (o === 'ro' ? 'rw' : o));
    }
  }
  const linux = (spec.linux ??= {});
  linux.resources = { ...linux.resources, devices: allowAllDeviceRules() };
  delete linux.maskedPaths;
  delete linux.readonlyPaths;
  delete linux.seccomp;
}
