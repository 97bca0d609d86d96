import { Counter, Registry } from 'prom-client';
import { parseListenAddress, serveMetrics } from '../src/http';

describe('the metrics endpoint', () => {
  it('parses host:port and refuses anything else', () => {
    expect(parseListenAddress('127.0.0.1:9101')).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress(':9101')).toEqual({ host: '0.0.0.0', port: 9101 });
    for (const bad of ['9101', 'host', 'host:99999', 'a:b:1']) expect(() => parseListenAddress(bad)).toThrow('metrics address must be host:port');
  });

  it('serves registries gathered per request, /healthz, and precise failures', async () => {
    let gathers = 0;
    let fail = false;
    let release: (() => void) | undefined;
    let scrapes = 0;
    const server = await serveMetrics({
      address: '127.0.0.1:0',
      onScrape: () => scrapes++,
      gather: async () => {
        gathers++;
        if (release === undefined) await new Promise<void>((r) => (release = r));
        if (fail) throw new Error('containerd is away');
        const r = new Registry();
        new Counter({ name: 'scrapes_total', help: 'h', registers: [r] }).inc(gathers);
        return [r];
      },
    });
    try {
      const base = `http://${server.address}`;
      expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok\n');
      expect((await fetch(`${base}/nope`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
      // Two scrapes while a gathering is in flight share it (released once both have arrived).
      const both = Promise.all([fetch(`${base}/metrics`), fetch(`${base}/metrics`)]);
      while (!release || scrapes < 2) await new Promise((r) => setTimeout(r, 5));
      release();
      const [a, b] = await both;
      expect(a.headers.get('content-type')).toContain('text/plain');
      expect(await a.text()).toContain('scrapes_total 1');
      expect(await b.text()).toContain('scrapes_total 1');
      expect(gathers).toBe(1);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('scrapes_total 2');
      fail = true;
      const failed = await fetch(`${base}/metrics`);
      expect(failed.status).toBe(500);
      expect(await failed.text()).toContain('containerd is away');
    } finally {
      await server.close();
    }
  });
});
