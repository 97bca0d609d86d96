// relay(): both directions with half-close, the grace period after the pod's FIN, and failures.
// The "client" is one end of a loopback TCP pair (a Duplex with half-close, like a SPDY stream);
// the "pod" is a loopback server.
import { once } from 'node:events';
import { relay } from '../src/streaming/portforward/relay';
import type { RelayResult } from '../src/streaming/portforward/relay';
import { readText, socketPair } from './loopback';

/** Both ends half-close like a SPDY stream and a pod connection. */
const pair = () => socketPair({ allowHalfOpen: true });

describe('relay', () => {
  it('lets the client finish its direction after the pod\'s FIN (within the grace period)', async () => {
    const [user, clientSide] = await pair(); // user ⇄ clientSide is the "client stream"
    const [podSocket, pod] = await pair(); // podSocket ⇄ pod is the connection into the pod
    let podEnded = false;
    const done = new Promise<RelayResult>((resolve) => relay(clientSide, podSocket, { graceMs: 60_000, onPodEnd: () => (podEnded = true) }, resolve));
    const podGot = readText(pod);
    pod.end('ready'); // the pod half-closes first
    expect(await readText(user)).toBe('ready');
    expect(podEnded).toBe(true);
    user.end('late data'); // still delivered: the relay waits for the client's end
    expect(await podGot).toBe('late data');
    expect(await done).toEqual({});
  });

  it('ends the pod connection after the grace period when the client never ends its side', async () => {
    const [user, clientSide] = await pair();
    const [podSocket, pod] = await pair();
    const done = new Promise<RelayResult>((resolve) => relay(clientSide, podSocket, { graceMs: 50 }, resolve));
    pod.resume();
    const podClosed = once(pod, 'close');
    pod.end('bye');
    expect(await readText(user)).toBe('bye');
    expect(await done).toEqual({});
    await podClosed;
    user.destroy();
  });

  it('reports a pod-side failure as podError and ends the client\'s direction', async () => {
    const [user, clientSide] = await pair();
    const [podSocket, pod] = await pair();
    const done = new Promise<RelayResult>((resolve) => relay(clientSide, podSocket, { graceMs: 50 }, resolve));
    const userGot = readText(user);
    pod.resetAndDestroy();
    const result = await done;
    expect((result.podError as NodeJS.ErrnoException | undefined)?.code).toBe('ECONNRESET');
    expect(await userGot).toBe('');
    user.destroy(); // half-open (allowHalfOpen): it would keep the test process alive
  });

  it('tears the pod connection down when the client stream fails', async () => {
    const [user, clientSide] = await pair();
    const [podSocket, pod] = await pair();
    const done = new Promise<RelayResult>((resolve) => relay(clientSide, podSocket, { graceMs: 50 }, resolve));
    pod.resume();
    const podEnded = once(pod, 'end');
    clientSide.destroy(new Error('stream reset by the peer'));
    const result = await done;
    expect(result.clientError?.message).toBe('stream reset by the peer');
    expect(result.podError).toBeUndefined();
    await podEnded;
    pod.destroy();
    user.destroy();
  });
});
