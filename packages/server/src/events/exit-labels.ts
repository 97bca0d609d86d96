// How a container's exit is written onto its containerd container (labels, see store/labels.ts) and
// read back, and how CRI's `reason` follows from it. Pure: no I/O.
import { EXIT_AT_LABEL, EXIT_CODE_LABEL, EXIT_REASON_LABEL, STARTED_AT_LABEL } from '../store/labels';

/**
 * CRI ContainerStatus.reason of an exited container, as containerd's CRI plugin sets it:
 * `OOMKilled` when the OOM killer struck in the container's cgroup, else `Completed` for exit 0 and
 * `Error` for any other; `Unknown` (with exit code 255) when the task vanished without crisp seeing
 * its exit.
 */
export type ExitReason = 'OOMKilled' | 'Completed' | 'Error' | 'Unknown';

export const EXIT_REASONS: readonly ExitReason[] = ['OOMKilled', 'Completed', 'Error', 'Unknown'];

/** containerd's CRI plugin: exit code and reason of a container whose task disappeared unseen. */
export const UNKNOWN_EXIT_CODE = 255;
export const UNKNOWN_EXIT_REASON: ExitReason = 'Unknown';

/** What is stored about one exit. */
export interface ExitLabels {
  /** Exit status as containerd reports it (128 + signal for a killed process). */
  exitCode: number;
  /** Nanoseconds since the epoch; 0n when containerd did not know. */
  exitedAt: bigint;
  reason: ExitReason;
}

/** Field mask for Containers.Update that writes exactly the exit labels (ts-proto: a string[]). */
export const EXIT_UPDATE_MASK: readonly string[] = Object.freeze([
  `labels.${EXIT_CODE_LABEL}`,
  `labels.${EXIT_AT_LABEL}`,
  `labels.${EXIT_REASON_LABEL}`,
]);

export const STARTED_UPDATE_MASK: readonly string[] = Object.freeze([`labels.${STARTED_AT_LABEL}`]);

/** The reason for an exit status, given whether an OOM kill was seen in its cgroup. */
export function exitReason(exitCode: number, oomKilled: boolean): ExitReason {
  if (oomKilled) return 'OOMKilled';
  return exitCode === 0 ? 'Completed' : 'Error';
}

export function encodeExitLabels(exit: ExitLabels): Record<string, string> {
  return {
    [EXIT_CODE_LABEL]: String(exit.exitCode),
    [EXIT_AT_LABEL]: exit.exitedAt.toString(),
    [EXIT_REASON_LABEL]: exit.reason,
  };
}

const INT = /^-?\d{1,10}$/;
const NANOS = /^\d{1,20}$/;

function isReason(s: string): s is ExitReason {
  return (EXIT_REASONS as readonly string[]).includes(s);
}

/**
 * The exit recorded in `labels`, or undefined when there is none or it is unreadable (a partial or
 * hand-edited set counts as none: better to record it again than to report garbage).
 */
export function decodeExitLabels(labels: Record<string, string> | undefined): ExitLabels | undefined {
  const code = labels?.[EXIT_CODE_LABEL];
  const at = labels?.[EXIT_AT_LABEL];
  const reason = labels?.[EXIT_REASON_LABEL];
  if (code === undefined || at === undefined || reason === undefined) return undefined;
  if (!INT.test(code) || !NANOS.test(at) || !isReason(reason)) return undefined;
  const exitCode = Number(code);
  // containerd's exit_status is a uint32; CRI's exit_code an int32. Anything outside both is garbage.
  if (exitCode < -0x8000_0000 || exitCode > 0xffff_ffff) return undefined;
  return { exitCode, exitedAt: BigInt(at), reason };
}

export function encodeStartedLabel(startedAt: bigint): Record<string, string> {
  return { [STARTED_AT_LABEL]: startedAt.toString() };
}

/** The recorded start time, or undefined when none (or unreadable). */
export function decodeStartedLabel(labels: Record<string, string> | undefined): bigint | undefined {
  const v = labels?.[STARTED_AT_LABEL];
  return v !== undefined && NANOS.test(v) ? BigInt(v) : undefined;
}

/** CRI's int32 exit_code for a stored exit status (a uint32 above 2^31 wraps as Go's int32() does). */
export function criExitCode(exitCode: number): number {
  return exitCode | 0;
}
