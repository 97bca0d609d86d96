// The unix socket kubelet connects to: parent dir created, a stale socket from a dead crisp removed,
// a live one (another crisp) refused, and the new socket made mode 0660.
import { promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const SOCKET_MODE = 0o660;

export class SocketInUseError extends Error {
  override name = 'SocketInUseError';
}

/** Resolves true when something accepts connections on the socket. */
function answers(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const finish = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => finish(true)); // accepted but silent: still someone's socket
    s.once('connect', () => finish(true));
    s.once('error', () => finish(false));
  });
}

/** Makes `socketPath` free to bind, or throws when it is in use or is not a socket. */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = await fs.lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new SocketInUseError(`${socketPath} exists and is not a socket; refusing to remove it`);
  if (await answers(socketPath)) throw new SocketInUseError(`another process is serving on ${socketPath}`);
  await fs.unlink(socketPath);
}

/** Binds with a umask that keeps the socket from ever being wider than 0660, then sets the mode exactly. */
export async function listenUnix(socketPath: string, listen: (address: string) => Promise<unknown>): Promise<void> {
  await prepareSocketPath(socketPath);
  const old = process.umask(0o117);
  try {
    await listen(`unix://${socketPath}`);
  } finally {
    process.umask(old);
  }
  await fs.chmod(socketPath, SOCKET_MODE);
}

export async function removeSocket(socketPath: string): Promise<void> {
  await fs.rm(socketPath, { force: true });
}
