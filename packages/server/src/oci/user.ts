// The process user: an image's `User` ("uid", "uid:gid", "name", "name:group", mixes) or the CRI's
// run_as_user/run_as_username/run_as_group, resolved against the container rootfs' /etc/passwd and /etc/group
// (passed in as their contents; undefined when the image has no such file). Like containerd:
//   - a numeric user needs no passwd entry; its primary group is the entry's gid if there is one, else 0;
//   - a user or group name must exist, or it is an error;
//   - supplementary groups are the /etc/group entries listing the user name as a member, and the primary gid
//     is always among them (so runc's setgroups never leaves a process with inherited groups; CVE-2023-25173).
import { invalidArgument } from '../errors';

/** The largest uid/gid (2^32 - 2; 2^32 - 1 is the kernel's "no id"). */
export const MAX_ID = 4294967294;

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Sorted, without duplicates, the primary gid included. */
  additionalGids: number[];
  /** The passwd name when known (for HOME and error messages). */
  username?: string;
  home?: string;
}

export interface UserFiles {
  /** Contents of the rootfs' /etc/passwd, or undefined if it has none. */
  passwd?: string | undefined;
  /** Contents of the rootfs' /etc/group, or undefined if it has none. */
  group?: string | undefined;
}

const NUMERIC = /^[0-9]+$/;

function parseId(s: string): number | undefined {
  if (!NUMERIC.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= MAX_ID ? n : undefined;
}

/** Splits an image/CRI user string into its user and optional group part, without resolving names. */
export function parseUserSpec(spec: string): { user: string; group?: string } {
  const s = spec.trim();
  if (s === '') return { user: '0' };
  const parts = s.split(':');
  if (parts.length > 2) throw invalidArgument(`invalid user "${spec}": expected user, user:group, uid or uid:gid`);
  const [user, group] = parts as [string, string | undefined];
  if (user === '') throw invalidArgument(`invalid user "${spec}": empty user part`);
  if (group !== undefined && group === '') throw invalidArgument(`invalid user "${spec}": empty group part`);
  for (const p of [user, group]) {
    if (p !== undefined && NUMERIC.test(p) && parseId(p) === undefined) {
      throw invalidArgument(`invalid user "${spec}": id ${p} is out of range (0..${MAX_ID})`);
    }
  }
  return group === undefined ? { user } : { user, group };
}

/** Parses /etc/passwd (name:password:uid:gid:gecos:home:shell); malformed lines and comments are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2]!);
    const gid = parseId(f[3]!);
    if (f[0] === '' || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

/** Parses /etc/group (name:password:gid:member,member); malformed lines and comments are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2]!);
    if (f[0] === '' || gid === undefined) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    out.push({ name: f[0]!, gid, members });
  }
  return out;
}

/** Sorted, duplicate-free union of gid lists. */
export function mergeGids(...lists: readonly (readonly number[])[]): number[] {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}

/**
 * Resolves a user string ("", "1000", "1000:1000", "app", "app:staff", "1000:staff", …) against the rootfs
 * files. Errors (INVALID_ARGUMENT) name the missing user or group and the file that was searched.
 */
export function resolveUser(spec: string, files: UserFiles = {}): ResolvedUser {
  const { user, group } = parseUserSpec(spec);
  const passwd = files.passwd === undefined ? undefined : parsePasswd(files.passwd);
  const groups = files.group === undefined ? undefined : parseGroup(files.group);

  let uid: number;
  let gid: number;
  let entry: PasswdEntry | undefined;
  const numericUid = parseId(user);
  if (numericUid !== undefined) {
    uid = numericUid;
    entry = passwd?.find((p) => p.uid === uid);
    gid = entry?.gid ?? 0;
  } else {
    if (passwd === undefined) throw invalidArgument(`unable to find user "${user}": the image has no /etc/passwd`);
    entry = passwd.find((p) => p.name === user);
    if (!entry) throw invalidArgument(`unable to find user "${user}": no matching entry in the image's /etc/passwd`);
    uid = entry.uid;
    gid = entry.gid;
  }

  if (group !== undefined) {
    const numericGid = parseId(group);
    if (numericGid !== undefined) {
      gid = numericGid;
    } else {
      if (groups === undefined) throw invalidArgument(`unable to find group "${group}": the image has no /etc/group`);
      const g = groups.find((e) => e.name === group);
      if (!g) throw invalidArgument(`unable to find group "${group}": no matching entry in the image's /etc/group`);
      gid = g.gid;
    }
  }

  const name = entry?.name;
  const supplementary =
    name === undefined || groups === undefined ? [] : groups.filter((g) => g.name !== name && g.members.includes(name)).map((g) => g.gid);
  const out: ResolvedUser = { uid, gid, additionalGids: mergeGids([gid], supplementary) };
  if (entry) {
    out.username = entry.name;
    out.home = entry.home;
  }
  return out;
}

/** Checks an id from the CRI (int64) and converts it. */
export function criId(field: string, v: bigint): number {
  if (v < 0n || v > BigInt(MAX_ID)) throw invalidArgument(`${field} must be between 0 and ${MAX_ID}, got ${v}`);
  return Number(v);
}

/**
 * The user of a sandbox or container from its CRI security context, falling back to the image's User:
 * run_as_username (containers only) or run_as_user, with run_as_group; run_as_group alone is an error (the
 * CRI says the runtime MUST refuse it). Supplemental groups from the security context are added.
 */
export function userFromSecurityContext(
  sc: {
    runAsUser?: { value: bigint } | undefined;
    runAsGroup?: { value: bigint } | undefined;
    runAsUsername?: string;
    supplementalGroups: bigint[];
  },
  imageUser: string | undefined,
  files: UserFiles = {},
): ResolvedUser {
  const username = sc.runAsUsername ?? '';
  if (username !== '' && sc.runAsUser !== undefined) {
    throw invalidArgument('run_as_user and run_as_username cannot both be set');
  }
  let spec: string;
  if (username !== '') {
    spec = username;
  } else if (sc.runAsUser !== undefined) {
    spec = String(criId('run_as_user', sc.runAsUser.value));
  } else {
    if (sc.runAsGroup !== undefined) {
      throw invalidArgument(`run_as_group ${sc.runAsGroup.value} is set without run_as_user or run_as_username`);
    }
    spec = imageUser ?? '';
  }
  if (sc.runAsGroup !== undefined) {
    const userPart = parseUserSpec(spec).user;
    spec = `${userPart}:${criId('run_as_group', sc.runAsGroup.value)}`;
  }
  const resolved = resolveUser(spec, files);
  const extra = sc.supplementalGroups.map((g) => criId('supplemental_groups', g));
  return { ...resolved, additionalGids: mergeGids(resolved.additionalGids, extra) };
}
