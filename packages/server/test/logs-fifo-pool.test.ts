import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { FIFO_POOL_BATCH, configureFifoPool, createFifos } from '../src/logs/fifo';
import { tempDir } from './temp-dir';

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('FIFO pool', () => {
  it('hands out pooled FIFOs by rename and refills in batches', async () => {
    jest.setTimeout(20_000);
    const root = tempDir('crisp-fifo-pool-');
    const pool = path.join(root, '.pool');
    await configureFifoPool(pool);
    await until(() => readdirSync(pool).length === FIFO_POOL_BATCH);
    const fifos = await createFifos(root, 'c1', { stdin: true });
    for (const p of [fifos.stdin!, fifos.stdout, fifos.stderr!]) expect(lstatSync(p).isFIFO()).toBe(true);
    expect(lstatSync(fifos.stdout).mode & 0o777).toBe(0o600);
    expect(readdirSync(pool).length).toBe(FIFO_POOL_BATCH - 3);
    // Drain below the low mark: the pool refills itself.
    for (let i = 0; i < 50; i++) await createFifos(root, `d${i}`, { tty: true });
    await until(() => readdirSync(pool).length >= FIFO_POOL_BATCH);
    for (let i = 0; i < 50; i++) expect(lstatSync(path.join(root, `d${i}`, 'stdout')).isFIFO()).toBe(true);
  });
});
