// A deterministic tar (ustar) writer for image layers: entries sorted by path, parents added,
// fixed mtime, uid/gid 0 unless given, no user/group names.

export const FIXED_MTIME = 946684800; // 2000-01-01T00:00:00Z

export type TarEntry =
  | { type: 'file'; path: string; data: Buffer; mode?: number; uid?: number; gid?: number }
  | { type: 'dir'; path: string; mode?: number; uid?: number; gid?: number }
  | { type: 'symlink'; path: string; target: string; uid?: number; gid?: number };

function normalize(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..')) throw new Error(`tar: ".." in ${p}`);
  if (parts.length === 0) throw new Error(`tar: empty path "${p}"`);
  return parts.join('/');
}

function octal(value: number, width: number): string {
  // width includes the terminating NUL
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`tar: ${value} does not fit in ${width} bytes`);
  return s.padStart(width - 1, '0') + '\0';
}

function splitName(name: string): { prefix: string; name: string } {
  if (Buffer.byteLength(name) <= 100) return { prefix: '', name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest.length > 0) return { prefix, name: rest };
  }
  throw new Error(`tar: path too long for ustar: ${name}`);
}

function header(e: { name: string; mode: number; uid: number; gid: number; size: number; typeflag: string; linkname: string }): Buffer {
  const h = Buffer.alloc(512, 0);
  const { prefix, name } = splitName(e.name);
  if (Buffer.byteLength(e.linkname) > 100) throw new Error(`tar: link target too long: ${e.linkname}`);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(e.mode, 8), 100, 8, 'ascii');
  h.write(octal(e.uid, 8), 108, 8, 'ascii');
  h.write(octal(e.gid, 8), 116, 8, 'ascii');
  h.write(octal(e.size, 12), 124, 12, 'ascii');
  h.write(octal(FIXED_MTIME, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder: spaces
  h.write(e.typeflag, 156, 1, 'ascii');
  h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}

/** The tar bytes for `entries` (missing parent directories are added with mode 0755). */
export function buildTar(entries: TarEntry[]): Buffer {
  const byPath = new Map<string, TarEntry>();
  for (const e of entries) {
    const p = normalize(e.path);
    if (byPath.has(p)) throw new Error(`tar: duplicate entry ${p}`);
    byPath.set(p, { ...e, path: p });
  }
  for (const p of [...byPath.keys()]) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      if (!byPath.has(parent)) byPath.set(parent, { type: 'dir', path: parent });
      else if (byPath.get(parent)!.type !== 'dir') throw new Error(`tar: ${parent} is not a directory`);
    }
  }
  const sorted = [...byPath.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const chunks: Buffer[] = [];
  for (const p of sorted) {
    const e = byPath.get(p)!;
    const uid = e.uid ?? 0;
    const gid = e.gid ?? 0;
    if (e.type === 'dir') {
      chunks.push(header({ name: `${p}/`, mode: e.mode ?? 0o755, uid, gid, size: 0, typeflag: '5', linkname: '' }));
    } else if (e.type === 'symlink') {
      chunks.push(header({ name: p, mode: 0o777, uid, gid, size: 0, typeflag: '2', linkname: e.target }));
    } else {
      chunks.push(header({ name: p, mode: e.mode ?? 0o644, uid, gid, size: e.data.length, typeflag: '0', linkname: '' }));
      chunks.push(e.data);
      const pad = (512 - (e.data.length % 512)) % 512;
      if (pad) chunks.push(Buffer.alloc(pad));
    }
  }
  chunks.push(Buffer.alloc(1024));
  return Buffer.concat(chunks);
}
