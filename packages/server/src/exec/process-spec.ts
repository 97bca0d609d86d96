// The process an exec runs: the container's own process spec (user, env, cwd, capabilities,
// rlimits, noNewPrivileges, apparmor, oom score, ...) with the exec's command, as containerd's CRI
// plugin derives it. Seccomp, namespaces and cgroups come from the container itself: runc applies
// the container's to every process it execs into it.
import type { Process } from '../oci/types';

/** Type URL of an OCI process spec in an Any (what Tasks.Exec takes). */
export const PROCESS_SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

/** The TERM a TTY exec gets when the container's environment sets none (as containerd and CRI-O do). */
export const DEFAULT_EXEC_TERM = 'TERM=xterm';

/**
 * A copy of `containerProcess` that runs `cmd`: a terminal only when `tty`, no console size (the
 * streaming client sends one), and with a TTY a TERM if the container has none. Never modifies
 * its argument.
 */
export function execProcessSpec(containerProcess: Process, cmd: readonly string[], tty: boolean): Process {
  const p: Process = structuredClone(containerProcess);
  p.args = [...cmd];
  p.terminal = tty;
  delete p.consoleSize;
  // Windows-only; an exec is always given as args.
  delete p.commandLine;
  if (tty && !(p.env ?? []).some((e) => e.startsWith('TERM='))) p.env = [...(p.env ?? []), DEFAULT_EXEC_TERM];
  return p;
}
