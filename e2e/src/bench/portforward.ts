// PortForward throughput: a 200 MB HTTP download from busybox httpd in a pod on the bench's test
// bridge, through crisp's tunnel (SPDY, as kubectl does through kubelet; and WebSocket, as
// crictl --transport websocket) against a direct TCP connection from the host to the pod's
// address, and against containerd's CRI plugin's own PortForward (a pod of its own on the same
// network), alternating in the same run. Prints MB/s and ratios; never asserts on time.
import { cri } from '@crisp/api';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Client } from 'nice-grpc';
import { SpdyPortForwardClient, WebSocketPortForwardClient } from '../streaming/portforward-client';
import { median } from './stats';

type Runtime = Client<cri.RuntimeServiceDefinition>;

const HTTP_PORT = 8080;
const BLOB_BYTES = 200 * 1000 * 1000;
const SPDY_WINDOW = 16 * 1024 * 1024;

export interface PortForwardBenchResult {
  bytes: number;
  direct: number[];
  spdy: number[];
  websocket: number[];
  /** containerd's CRI plugin's own PortForward, same client. */
  peerSpdy: number[];
}

/** GET /blob over `stream`; resolves with the milliseconds until the server's end. Checks the size. */
function download(stream: Duplex): Promise<number> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const t0 = performance.now();
    stream.on('data', (c: Buffer) => (received += c.length));
    stream.on('error', reject);
    stream.on('end', () => {
      const ms = performance.now() - t0;
      // The body plus httpd's short header block.
      if (received < BLOB_BYTES || received > BLOB_BYTES + 4096) reject(new Error(`received ${received} bytes, expected ${BLOB_BYTES} and headers`));
      else resolve(ms);
    });
    stream.write('GET /blob HTTP/1.0\r\nHost: pod\r\n\r\n');
  });
}

function connectDirect(host: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port: HTTP_PORT });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function podConfig(name: string): cri.PodSandboxConfig {
  return cri.PodSandboxConfig.fromPartial({
    metadata: { name, namespace: 'bench', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    linux: { securityContext: { namespaceOptions: { network: cri.NamespaceMode.POD, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } },
  });
}

interface BenchPod {
  rt: Runtime;
  podSandboxId: string;
  ip: string;
}

/** A pod whose busybox httpd serves /blob (BLOB_BYTES) on every address of the pod. */
async function startPod(rt: Runtime, name: string, busybox: string): Promise<BenchPod> {
  const config = podConfig(name);
  const { podSandboxId } = await rt.runPodSandbox({ config });
  try {
    const ip = (await rt.podSandboxStatus({ podSandboxId })).status?.network?.ip;
    if (!ip) throw new Error(`${name}: the bench pod has no IP`);
    // The tunnel reaches httpd on 127.0.0.1 in the pod, the host on the pod IP.
    const script = `mkdir -p /www && head -c ${BLOB_BYTES} /dev/zero > /www/blob && exec httpd -f -p ${HTTP_PORT} -h /www`;
    const { containerId } = await rt.createContainer({
      podSandboxId,
      config: cri.ContainerConfig.fromPartial({ metadata: { name: 'httpd', attempt: 0 }, image: { image: busybox }, command: ['sh', '-c', script], logPath: 'httpd.log' }),
      sandboxConfig: config,
    });
    await rt.startContainer({ containerId });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const up = await connectDirect(ip).then(
        (sock) => (sock.destroy(), true),
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) throw new Error(`${name}: httpd did not come up at ${ip}:${HTTP_PORT}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { rt, podSandboxId, ip };
  } catch (err) {
    await removePod(rt, podSandboxId);
    throw err;
  }
}

async function removePod(rt: Runtime, podSandboxId: string): Promise<void> {
  try {
    await rt.stopPodSandbox({ podSandboxId });
    await rt.removePodSandbox({ podSandboxId });
  } catch (err) {
    // The run's final sweep removes what is left; say what failed.
    process.stderr.write(`bench clean-up: could not remove pod ${podSandboxId}: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

const portForwardUrl = async (pod: BenchPod): Promise<string> => (await pod.rt.portForward({ podSandboxId: pod.podSandboxId, port: [HTTP_PORT] })).url;

async function viaSpdy(pod: BenchPod): Promise<number> {
  // Windows as large as kubectl's absent flow control makes them (see SpdyPortForwardClient.connect).
  const client = await SpdyPortForwardClient.connect(await portForwardUrl(pod), { windowSize: SPDY_WINDOW });
  const conn = client.open(HTTP_PORT);
  try {
    return await download(conn.stream);
  } catch (err) {
    const reason = await conn.error.catch((e: unknown) => String(e));
    throw new Error(`SPDY port-forward download: ${(err as Error).message}${reason ? ` (error stream: ${reason})` : ''}`);
  } finally {
    client.conn.destroy();
  }
}

async function viaWebSocket(pod: BenchPod): Promise<number> {
  const client = await WebSocketPortForwardClient.connect(await portForwardUrl(pod), [HTTP_PORT]);
  const conn = client.connections[0]!;
  try {
    return await download(conn.stream);
  } catch (err) {
    const reason = await conn.error.catch((e: unknown) => String(e));
    throw new Error(`WebSocket port-forward download: ${(err as Error).message}${reason ? ` (error channel: ${reason})` : ''}`);
  } finally {
    client.ws.terminate();
  }
}

/**
 * crisp's pod: direct, SPDY and WebSocket; containerd's CRI plugin (`peer`, same containerd and
 * CNI network): its own PortForward over SPDY, with the same client.
 */
export async function benchPortForward(crisp: Runtime, peer: Runtime, busybox: string, rounds: number): Promise<PortForwardBenchResult> {
  const pods: BenchPod[] = [];
  try {
    const ours = await startPod(crisp, 'bench-pf-crisp', busybox);
    pods.push(ours);
    const theirs = await startPod(peer, 'bench-pf-peer', busybox);
    pods.push(theirs);
    // One warm-up each (page cache for the blobs, the pod's netns helper).
    await download(await connectDirect(ours.ip));
    await viaSpdy(ours);
    await viaSpdy(theirs);
    const out: PortForwardBenchResult = { bytes: BLOB_BYTES, direct: [], spdy: [], websocket: [], peerSpdy: [] };
    for (let i = 0; i < rounds; i++) {
      out.direct.push(await download(await connectDirect(ours.ip)));
      out.spdy.push(await viaSpdy(ours));
      out.peerSpdy.push(await viaSpdy(theirs));
      out.websocket.push(await viaWebSocket(ours));
    }
    return out;
  } finally {
    for (const pod of pods) await removePod(pod.rt, pod.podSandboxId);
  }
}

export function reportPortForward(r: PortForwardBenchResult): string {
  const mb = r.bytes / 1e6;
  const rate = (ms: number): number => mb / (ms / 1000);
  const mid = (ms: number[]): number => rate(median(ms));
  const line = (name: string, ms: number[]): string =>
    `  ${name.padEnd(36)} median ${mid(ms).toFixed(0).padStart(5)} MB/s  runs: ${ms.map((m) => `${rate(m).toFixed(0)}`).join(', ')} MB/s`;
  return [
    `port-forward throughput (${mb.toFixed(0)} MB HTTP download from busybox httpd in a pod), ${r.direct.length} rounds:`,
    line('direct TCP to the pod IP', r.direct),
    line('crisp PortForward, SPDY', r.spdy),
    line('crisp PortForward, WebSocket', r.websocket),
    line('containerd CRI PortForward, SPDY', r.peerSpdy),
    `  ratio crisp SPDY/direct: ${(mid(r.spdy) / mid(r.direct)).toFixed(2)}x, crisp WebSocket/direct: ${(mid(r.websocket) / mid(r.direct)).toFixed(2)}x, ` +
      `crisp SPDY/containerd CRI SPDY: ${(mid(r.spdy) / mid(r.peerSpdy)).toFixed(2)}x`,
  ].join('\n');
}
