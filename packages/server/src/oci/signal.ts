// Stop signals: the image's StopSignal ("SIGTERM", "TERM", "15", "SIGRTMIN+3", any case, as Docker parses
// it) or the CRI's ContainerConfig.stop_signal enum, as a Linux signal number. Numbers are the x86/arm ones
// (Linux's generic numbering, which crisp's platforms share); SIGRTMIN is 34, as glibc and Go report it.
import { cri } from '@crisp/api';
import { invalidArgument } from '../errors';

export const SIGKILL = 9;
export const SIGTERM = 15;
/** The signal StopContainer sends when neither the request nor the image names one. */
export const DEFAULT_STOP_SIGNAL = SIGTERM;

const SIGRTMIN = 34;
const SIGRTMAX = 64;

const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
  RTMIN: SIGRTMIN,
  RTMAX: SIGRTMAX,
});

/** A signal name or number → its number; INVALID_ARGUMENT for anything else. */
export function parseSignal(raw: string): number {
  const s = raw.trim();
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || n > SIGRTMAX) throw invalidArgument(`invalid signal "${raw}": signal numbers are 1 to ${SIGRTMAX}`);
    return n;
  }
  const name = s.toUpperCase().replace(/^SIG/, '');
  if (Object.hasOwn(SIGNALS, name)) return SIGNALS[name]!;
  // RTMIN+n / RTMAX-n (Docker's form) and RTMINPLUSn / RTMAXMINUSn (the CRI enum's).
  const rt = /^RT(MIN|MAX)(\+|-|PLUS|MINUS)([0-9]+)$/.exec(name);
  if (rt) {
    const up = rt[2] === '+' || rt[2] === 'PLUS';
    const n = Number(rt[3]);
    const v = rt[1] === 'MIN' && up ? SIGRTMIN + n : rt[1] === 'MAX' && !up ? SIGRTMAX - n : undefined;
    if (v !== undefined && v >= SIGRTMIN && v <= SIGRTMAX) return v;
  }
  throw invalidArgument(`invalid signal "${raw}"`);
}

/**
 * The signal that stops a container: the request's stop_signal when set, else the image's StopSignal, else
 * SIGTERM. An unparsable one is INVALID_ARGUMENT (Docker refuses such an image at create too): call this in
 * CreateContainer and keep the number.
 */
export function stopSignalOf(imageStopSignal: string | undefined, requested: cri.Signal = cri.Signal.RUNTIME_DEFAULT): number {
  if (requested !== cri.Signal.RUNTIME_DEFAULT) {
    const name = cri.Signal[requested] as string | undefined;
    if (name === undefined || requested < 0) throw invalidArgument(`unknown stop_signal ${String(requested)}`);
    return parseSignal(name);
  }
  const image = (imageStopSignal ?? '').trim();
  if (image === '') return DEFAULT_STOP_SIGNAL;
  try {
    return parseSignal(image);
  } catch {
    throw invalidArgument(`the image's StopSignal "${image}" is not a signal`);
  }
}
