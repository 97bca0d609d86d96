// PortForward end to end: real containerd and runc, a pod on a test bridge (10.233.3.0/24, no
// masquerade) with busybox httpd bound to 127.0.0.1 inside the pod, reached only through crisp's
// tunnel (SPDY as kubectl/kubelet, WebSocket as crictl), two connections at once; a closed port
// reported on its error stream while the session goes on; the RPC's errors; and no helper process
// left once the pod is gone. Traffic: loopback and the pod's address in the test subnet only.
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { Status } from 'nice-grpc';
import { cri } from '@crisp/api';
import { containerConfig, eventually, freePort, grpcError, podConfig, startCrispSuite } from '@crisp/e2e';
import type { CrispProcess, CrispSuite } from '@crisp/e2e';
import { SpdyPortForwardClient, WebSocketPortForwardClient, httpGet } from '../src/streaming/portforward-client';

jest.setTimeout(180_000);

const BRIDGE = 'crisp-e2e-pf0';
const SUBNET = '10.233.3.0/24';
const HTTP_PORT = 8080;
/** A second httpd, on the pod's IPv6 loopback only. */
const HTTP6_PORT = 8081;
/** Nothing listens there in the pod. */
const CLOSED_PORT = 9090;
const HELLO = 'hello through the tunnel\n';
/** 1 MiB of a known pattern, written in the container by `yes | head -c`. */
const PATTERN = Buffer.from('0123456789abcdef\n'.repeat(Math.ceil((1 << 20) / 17))).subarray(0, 1 << 20);

/** pids of crisp's port-forward helpers (netns-helper.js children of crisp). */
function helperPids(crispPid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (!cmdline.includes('netns-helper.js')) continue;
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === crispPid) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

describe('PortForward', () => {
  let suite: CrispSuite;
  let crisp: CrispProcess;
  let podId: string;
  let podIp: string;
  let busybox: string;
  let hostPodId = '';
  const sandboxConfig = podConfig('pod-portforward');

  const url = async (port: number[] = []): Promise<string> => (await crisp.runtime.portForward({ podSandboxId: podId, port })).url;

  beforeAll(async () => {
    suite = await startCrispSuite({ network: { name: 'crisp-e2e-pf', bridge: BRIDGE, subnet: SUBNET }, pod: sandboxConfig });
    ({ crisp, busybox, podId, podIp } = suite);
    expect(podIp.startsWith('10.233.3.')).toBe(true);
    const script = [
      'mkdir -p /www',
      `printf '${HELLO.replace('\n', '\\n')}' > /www/hello.txt`,
      'yes 0123456789abcdef | head -c 1048576 > /www/big.txt',
      `httpd -p '[::1]:${HTTP6_PORT}' -h /www`,
      `exec httpd -f -p 127.0.0.1:${HTTP_PORT} -h /www`,
    ].join(' && ');
    const { containerId } = await crisp.runtime.createContainer({
      podSandboxId: podId,
      config: containerConfig('httpd', busybox, ['sh', '-c', script]),
      sandboxConfig,
    });
    await crisp.runtime.startContainer({ containerId });
    // Ready once the file is served through the tunnel.
    await eventually('httpd to serve through the tunnel', async () => {
      const client = await SpdyPortForwardClient.connect(await url());
      try {
        const c = client.open(HTTP_PORT);
        const answer = await httpGet(c.stream, '/hello.txt').catch(() => undefined);
        return answer?.status === 200;
      } finally {
        client.conn.destroy();
      }
    }, 30_000);
  });

  afterAll(async () => {
    if (hostPodId) await crisp.runtime.removePodSandbox({ podSandboxId: hostPodId }).catch(() => undefined);
    await suite?.stop();
  });

  it('the server listens on the pod\'s loopback only: a direct connection to the pod address is refused', async () => {
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: podIp, port: HTTP_PORT, timeout: 5000 });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('timeout', () => s.destroy(new Error('timeout')));
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('SPDY (portforward.k8s.io): fetches files over two connections at once', async () => {
    const client = await SpdyPortForwardClient.connect(await url([HTTP_PORT]));
    try {
      const a = client.open(HTTP_PORT);
      const b = client.open(HTTP_PORT);
      const [small, big] = await Promise.all([httpGet(a.stream, '/hello.txt'), httpGet(b.stream, '/big.txt')]);
      expect(small.status).toBe(200);
      expect(small.body.toString()).toBe(HELLO);
      expect(big.status).toBe(200);
      expect(big.body.equals(PATTERN)).toBe(true);
      expect(await a.error).toBe('');
      expect(await b.error).toBe('');
    } finally {
      client.close();
    }
  });

  it('SPDY: reaches a server listening on the pod\'s IPv6 loopback only (IPv4 first, then ::1)', async () => {
    const client = await SpdyPortForwardClient.connect(await url([HTTP6_PORT]));
    try {
      const c = client.open(HTTP6_PORT);
      const answer = await httpGet(c.stream, '/hello.txt');
      expect(answer.status).toBe(200);
      expect(answer.body.toString()).toBe(HELLO);
      expect(await c.error).toBe('');
    } finally {
      client.close();
    }
  });

  it('SPDY: a closed port is reported on that connection\'s error stream; the session goes on', async () => {
    const client = await SpdyPortForwardClient.connect(await url());
    try {
      const failed = client.open(CLOSED_PORT);
      const text = await failed.error;
      expect(text).toContain(`error forwarding port ${CLOSED_PORT} to pod ${podId}`);
      expect(text).toContain(`ECONNREFUSED 127.0.0.1:${CLOSED_PORT}`);
      const next = client.open(HTTP_PORT);
      const answer = await httpGet(next.stream, '/hello.txt');
      expect(answer.body.toString()).toBe(HELLO);
      expect(await next.error).toBe('');
    } finally {
      client.close();
    }
  });

  for (const protocol of ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io']) {
    it(`WebSocket (${protocol}): two connections at once, a closed port reported on its error channel`, async () => {
      const client = await WebSocketPortForwardClient.connect(await url(), [HTTP_PORT, HTTP_PORT, CLOSED_PORT], protocol);
      const [a, b, closed] = client.connections;
      const [small, big] = await Promise.all([httpGet(a!.stream, '/hello.txt'), httpGet(b!.stream, '/big.txt')]);
      expect(small.body.toString()).toBe(HELLO);
      expect(big.body.equals(PATTERN)).toBe(true);
      expect((await client.closed).code).toBe(1000);
      expect(await a!.error).toBe('');
      expect(await closed!.error).toContain(`error forwarding port ${CLOSED_PORT} to pod ${podId}`);
    });
  }

  it('answers NOT_FOUND for an unknown sandbox and INVALID_ARGUMENT for a bad port', async () => {
    const unknown = await grpcError(crisp.runtime.portForward({ podSandboxId: 'no-such-sandbox', port: [HTTP_PORT] }));
    expect(unknown.code).toBe(Status.NOT_FOUND);
    expect(unknown.details).toContain('no-such-sandbox');
    const bad = await grpcError(crisp.runtime.portForward({ podSandboxId: podId, port: [70000] }));
    expect(bad.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.details).toContain('70000');
  });

  it('host-network pod: crisp connects to the host\'s loopback itself, no helper', async () => {
    const hostConfig = podConfig('pod-portforward-host', {
      linux: { securityContext: { namespaceOptions: { network: cri.NamespaceMode.NODE, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } } as never,
    });
    hostPodId = (await crisp.runtime.runPodSandbox({ config: hostConfig })).podSandboxId;
    const port = await freePort();
    const script = `mkdir -p /www && printf 'on the host\\n' > /www/host.txt && exec httpd -f -p 127.0.0.1:${port} -h /www`;
    const { containerId } = await crisp.runtime.createContainer({ podSandboxId: hostPodId, config: containerConfig('httpd-host', busybox, ['sh', '-c', script]), sandboxConfig: hostConfig });
    await crisp.runtime.startContainer({ containerId });
    const helpersBefore = helperPids(crisp.pid!).length;
    const body = await eventually('httpd on the host loopback', async () => {
      const client = await SpdyPortForwardClient.connect((await crisp.runtime.portForward({ podSandboxId: hostPodId, port: [port] })).url);
      try {
        const answer = await httpGet(client.open(port).stream, '/host.txt').catch(() => undefined);
        return answer?.status === 200 ? answer.body.toString() : undefined;
      } finally {
        client.conn.destroy();
      }
    }, 30_000);
    expect(body).toBe('on the host\n');
    expect(helperPids(crisp.pid!)).toHaveLength(helpersBefore);
    await crisp.runtime.removePodSandbox({ podSandboxId: hostPodId });
    hostPodId = '';
  });

  it('ends its helper when the pod stops, refuses a stopped pod, and leaves no helper once the pod is removed', async () => {
    // A session keeps the pod's helper alive.
    const client = await SpdyPortForwardClient.connect(await url());
    const c = client.open(HTTP_PORT);
    expect((await httpGet(c.stream, '/hello.txt')).status).toBe(200);
    expect(helperPids(crisp.pid!)).toHaveLength(1);

    await crisp.runtime.stopPodSandbox({ podSandboxId: podId });
    expect(helperPids(crisp.pid!)).toEqual([]);
    const stopped = await grpcError(crisp.runtime.portForward({ podSandboxId: podId, port: [] }));
    expect(stopped.code).toBe(Status.FAILED_PRECONDITION);
    // The open session cannot reach the stopped pod any more: an error, not a new helper.
    const late = client.open(HTTP_PORT);
    expect(await late.error).toContain('is closed');
    client.close();

    await crisp.runtime.removePodSandbox({ podSandboxId: podId });
    const state = (await crisp.runtime.listPodSandbox({ filter: { id: podId } })).items;
    expect(state).toEqual([]);
    expect(helperPids(crisp.pid!)).toEqual([]);
    podId = '';
  });
});
