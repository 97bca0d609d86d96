// The port-forward dialer that runs inside a pod's network namespace. Node cannot setns(), so crisp
// starts this file as `nsenter --net=<netns> -- node netns-helper.js` with an IPC channel (nsenter
// execs node, which inherits the channel's fd). crisp asks it to connect to a port; it connects to
// localhost inside the namespace and hands the connected socket back over the channel (the fd
// travels with SCM_RIGHTS), so the data never passes through this process.
//
// It also exports connectLocalhost(), which crisp uses itself for host-network pods. Only Node
// built-ins may be imported here: tests run this file on its own, transpiled.
import net from 'node:net';

/** A request from crisp. */
export interface DialRequest {
  id: number;
  port: number;
  timeoutMs: number;
}

/** The answer; with ok, the connected socket comes as the message's handle. */
export type DialReply = { id: number; ok: true } | { id: number; ok: false; message: string };

function connectOnce(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = new net.Socket();
    // Read nothing before the socket is handed over: bytes read here would be lost to crisp.
    socket.pause();
    const timer = setTimeout(() => socket.destroy(new Error(`connect ETIMEDOUT ${host}:${port} (after ${timeoutMs} ms)`)), timeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.connect({ host, port }, () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/**
 * Connects to localhost:<port> the way containerd's CRI plugin does: IPv4 first (what pods
 * usually bind), IPv6 when that fails; one after the other, never racing.
 */
export async function connectLocalhost(port: number, timeoutMs: number): Promise<net.Socket> {
  try {
    return await connectOnce('127.0.0.1', port, timeoutMs);
  } catch (v4) {
    try {
      return await connectOnce('::1', port, timeoutMs);
    } catch (v6) {
      throw new Error(`failed to connect to localhost:${port}: IPv4: ${(v4 as Error).message}; IPv6: ${(v6 as Error).message}`);
    }
  }
}

function validRequest(m: unknown): m is DialRequest {
  const r = m as Partial<DialRequest> | null;
  return (
    typeof r === 'object' && r !== null &&
    Number.isInteger(r.id) && Number.isInteger(r.port) && r.port! >= 1 && r.port! <= 65535 &&
    Number.isInteger(r.timeoutMs) && r.timeoutMs! > 0
  );
}

function serve(): void {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write('netns-helper: no IPC channel (started by crisp with stdio "ipc")\n');
    process.exit(2);
  }
  // crisp closed the channel (it ended us, or it died): nothing is left to do.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (m: unknown) => {
    if (!validRequest(m)) {
      process.stderr.write(`netns-helper: ignored malformed request ${JSON.stringify(m)}\n`);
      return;
    }
    connectLocalhost(m.port, m.timeoutMs).then(
      (socket) => {
        const reply: DialReply = { id: m.id, ok: true };
        // The handle is closed here once it has been sent (keepOpen is false).
        send(reply, socket, {}, (err: Error | null) => {
          if (err) socket.destroy();
        });
      },
      (err: Error) => {
        const reply: DialReply = { id: m.id, ok: false, message: err.message };
        send(reply, undefined, {}, () => undefined);
      },
    );
  });
}

if (require.main === module) serve();
