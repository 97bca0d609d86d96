// Relays one forwarded connection: the client's stream (a SPDY data stream, a WebSocket channel)
// and the TCP socket in the pod, both ways, with backpressure (pipe) and half-close.
//
// - The client ends its side (SPDY FIN): the socket's write side is shut down and the pod's
//   answer still flows back until the pod closes (a request/response over a half-closed socket).
// - The pod ends its side: the FIN goes to the client (and onPodEnd is called); the client's side
//   then gets `graceMs` to finish before the socket is closed: clients (kubectl) wait for the end
//   of the error stream after the pod's FIN before they close their own side, so the relay must
//   not wait for them indefinitely (containerd's CRI plugin gives 1 s too).
// - Either side fails: the other is torn down; onDone tells which side failed first.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface RelayOptions {
  /** After the pod's FIN, how long the client's direction may go on. */
  graceMs: number;
  /** The pod's direction ended cleanly (its FIN, relayed to the client). */
  onPodEnd?: () => void;
}

export interface RelayHandle {
  /** Ends the relay abruptly (session closed). */
  destroy(): void;
}

export interface RelayResult {
  /** The pod's connection failed (e.g. reset): worth telling the client on its error stream. */
  podError?: Error;
  /** The client's stream failed (reset by the client, connection lost). */
  clientError?: Error;
}

/** Pipes `client` and `socket` both ways; onDone once both are finished. */
export function relay(client: Duplex, socket: Socket, opts: RelayOptions, onDone: (result: RelayResult) => void): RelayHandle {
  const result: RelayResult = {};
  let done = false;
  let grace: NodeJS.Timeout | undefined;
  let socketClosed = false;
  let clientFinished = false;

  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(grace);
    onDone(result);
  };
  const maybeDone = (): void => {
    if (socketClosed && clientFinished) finish();
  };

  socket.pipe(client);
  client.pipe(socket);

  socket.on('error', (err) => {
    if (!result.clientError) result.podError ??= err;
  });
  socket.on('close', () => {
    socketClosed = true;
    client.unpipe(socket);
    // The socket failed before its end: end the client's direction ourselves (pipe only does on 'end').
    if (!client.writableEnded && !client.destroyed) client.end();
    if (!clientFinished) {
      // Whatever the client still sends has nowhere to go.
      client.resume();
      clientFinished = true;
    }
    maybeDone();
  });
  socket.on('end', () => {
    // The pod sent FIN (relayed by the pipe): the client gets graceMs to finish its direction.
    opts.onPodEnd?.();
    if (clientFinished) return;
    grace = setTimeout(() => socket.destroy(), opts.graceMs);
  });

  client.on('end', () => {
    clientFinished = true;
    maybeDone();
  });
  client.on('error', (err) => {
    if (!result.podError) result.clientError ??= err;
    clientFinished = true;
    socket.destroy();
  });
  client.on('close', () => {
    // Destroyed without an end (e.g. a SPDY reset or a lost connection): the socket goes too.
    if (!clientFinished) {
      clientFinished = true;
      socket.destroy();
    }
    maybeDone();
  });

  return {
    destroy: () => {
      socket.destroy();
      if (!client.destroyed) client.destroy();
    },
  };
}
