import { Metadata } from 'nice-grpc-common';
import {
  ContainerdClient,
  ContainerdError,
  LEASE_HEADER,
  NAMESPACE_HEADER,
  isNotFound,
  isAbortError,
  toUnixTarget,
  withLease,
} from '../src';
import { FakeContainerd } from './fake-containerd';

describe('ContainerdClient against an in-process server', () => {
  let fake: FakeContainerd;
  let client: ContainerdClient;

  beforeEach(async () => {
    fake = new FakeContainerd();
    await fake.start();
    client = new ContainerdClient({ address: fake.address, namespace: 'crisp-test' });
  });

  afterEach(async () => {
    client.close();
    await fake.dispose();
  });

  it('sends containerd-namespace on every call and answers ping', async () => {
    await expect(client.ping()).resolves.toEqual({ version: '1.6.20-fake', revision: 'fake' });
    await client.namespaces.list({});
    expect(fake.lastCall('Version')?.metadata.get(NAMESPACE_HEADER)).toBe('crisp-test');
    expect(fake.lastCall('Namespaces.List')?.metadata.get(NAMESPACE_HEADER)).toBe('crisp-test');
    expect(fake.lastCall('Version')?.metadata.has(LEASE_HEADER)).toBe(false);
  });

  it('attaches a lease and keeps the namespace, without mutating the caller metadata', async () => {
    const md = client.leaseMetadata('lease-1');
    await client.version.version({}, { metadata: md });
    const seen = fake.lastCall('Version')!.metadata;
    expect(seen.get(LEASE_HEADER)).toBe('lease-1');
    expect(seen.get(NAMESPACE_HEADER)).toBe('crisp-test');
    expect(md.has(NAMESPACE_HEADER)).toBe(false);

    const controller = new AbortController();
    const opts = withLease('lease-2', { signal: controller.signal, metadata: Metadata({ 'x-extra': 'y' }) });
    expect(opts.signal).toBe(controller.signal);
    await client.namespaces.list({}, opts);
    const seen2 = fake.lastCall('Namespaces.List')!.metadata;
    expect(seen2.get(LEASE_HEADER)).toBe('lease-2');
    expect(seen2.get('x-extra')).toBe('y');
    expect(seen2.get(NAMESPACE_HEADER)).toBe('crisp-test');
  });

  it('withNamespace shares the channel and sends the other namespace', async () => {
    const other = client.withNamespace('k8s.io');
    expect(other.channel).toBe(client.channel);
    expect(client.withNamespace('crisp-test')).toBe(client);
    await other.version.version({});
    expect(fake.lastCall('Version')?.metadata.get(NAMESPACE_HEADER)).toBe('k8s.io');
    await client.version.version({});
    expect(fake.lastCall('Version')?.metadata.get(NAMESPACE_HEADER)).toBe('crisp-test');
  });

  it('converts server errors into ContainerdError with code, status, details and method', async () => {
    const err = await client.namespaces.get({ name: 'missing' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerdError);
    expect(isNotFound(err)).toBe(true);
    expect(err).toMatchObject({
      code: 'not-found',
      status: 5,
      details: 'namespace "missing": not found',
      method: '/containerd.services.namespaces.v1.Namespaces/Get',
    });
  });

  it('converts errors of streaming calls too', async () => {
    const read = async (): Promise<void> => {
      for await (const _ of client.content.read({ digest: 'sha256:nope' })) {
        // no chunks expected
      }
    };
    await expect(read()).rejects.toMatchObject({ name: 'ContainerdError', code: 'not-found' });
    const list = async (): Promise<void> => {
      for await (const _ of client.content.list({})) {
        // the fake does not implement List
      }
    };
    await expect(list()).rejects.toMatchObject({ code: 'unimplemented', status: 12 });
  });

  it('cancels a call end to end when the caller aborts: AbortError, and the server sees it', async () => {
    const controller = new AbortController();
    const call = client.namespaces.get({ name: 'hang' }, { signal: controller.signal });
    await waitFor(() => fake.lastCall('Namespaces.Get') !== undefined);
    controller.abort();
    const err = await call.catch((e: unknown) => e);
    expect(isAbortError(err)).toBe(true);
    expect(err).not.toBeInstanceOf(ContainerdError);
    await waitFor(() => fake.serverAborts.includes('Namespaces.Get'));
  });

  it('turns a deadline into deadline-exceeded and cancels the server side', async () => {
    const started = Date.now();
    const err = await client.namespaces.get({ name: 'hang' }, { deadline: Date.now() + 150 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ContainerdError', code: 'deadline-exceeded', status: 4 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(Date.now() - started).toBeLessThan(1000);
    await waitFor(() => fake.serverAborts.includes('Namespaces.Get'));

    const err2 = await client.namespaces.get({ name: 'hang' }, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err2).toMatchObject({ code: 'deadline-exceeded' });
    const err3 = await client.namespaces.get({ name: 'hang' }, { deadline: new Date(Date.now() - 1) }).catch((e: unknown) => e);
    expect(err3).toMatchObject({ code: 'deadline-exceeded' });
  });

  it('keeps an abort an AbortError even when a deadline was also set', async () => {
    const controller = new AbortController();
    const call = client.namespaces.get({ name: 'hang' }, { signal: controller.signal, timeoutMs: 5000 });
    setTimeout(() => controller.abort(), 50);
    expect(isAbortError(await call.catch((e: unknown) => e))).toBe(true);
  });

  it('applies defaultTimeoutMs to unary calls only', async () => {
    const timed = new ContainerdClient({ address: fake.address, namespace: 'n', defaultTimeoutMs: 100 });
    try {
      await expect(timed.namespaces.get({ name: 'hang' })).rejects.toMatchObject({ code: 'deadline-exceeded' });
      await expect(timed.ping()).resolves.toMatchObject({ version: '1.6.20-fake' });
      // Infinity opts a unary call out; a signal still ends it.
      const controller = new AbortController();
      const call = timed.namespaces.get({ name: 'hang' }, { deadline: Infinity, signal: controller.signal });
      const outcome = await Promise.race([call.catch(() => 'failed'), sleep(300).then(() => 'still running')]);
      expect(outcome).toBe('still running');
      controller.abort();
      await expect(call).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      timed.close();
    }
  });

  it('fails ping fast with unavailable when nothing listens', async () => {
    fake.stop();
    const down = new ContainerdClient({ address: fake.address, namespace: 'n' });
    try {
      const started = Date.now();
      const err = await down.ping({ timeoutMs: 1000 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'ContainerdError' });
      expect(['unavailable', 'deadline-exceeded']).toContain((err as ContainerdError).code);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      down.close();
    }
  });

  it('normalises the address', () => {
    expect(toUnixTarget('/run/containerd/containerd.sock')).toBe('unix:///run/containerd/containerd.sock');
    expect(toUnixTarget('unix:///x.sock')).toBe('unix:///x.sock');
    expect(() => toUnixTarget('relative.sock')).toThrow(/absolute/);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}
