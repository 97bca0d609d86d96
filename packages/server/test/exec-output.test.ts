// consumeOutput(): a consumer that returns a promise pauses the FIFO until it settles, so a slow
// client holds the process back instead of crisp buffering its output.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { consumeOutput } from '../src/exec/exec';
import { openFifoReader } from '../src/logs/fifo';

const TOTAL = 4 * 1024 * 1024;

describe('exec output', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'crisp-exec-output-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stops reading while the consumer waits, and reads the rest once it is ready', async () => {
    const fifo = path.join(dir, 'stdout');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = await openFifoReader(fifo);
    // The writer: 4 MiB into the FIFO, far more than the pipe and socket buffers hold.
    const writer = spawn('sh', ['-c', `head -c ${TOTAL} /dev/zero > ${fifo}`], { stdio: 'ignore' });
    const writerExited = new Promise<void>((resolve) => writer.once('exit', () => resolve()));
    let received = 0;
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const done = consumeOutput(
      reader,
      (chunk) => {
        received += chunk.length;
        calls++;
        return calls === 1 ? gate : undefined;
      },
      pino({ level: 'silent' }),
    );
    // While the first chunk's promise is pending, nothing more is read (without backpressure the
    // 4 MiB would arrive in a few ms) and the writer stays blocked on the full pipe.
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(1);
    expect(received).toBeLessThan(TOTAL);
    let exited = false;
    void writerExited.then(() => (exited = true));
    expect(exited).toBe(false);
    release();
    await writerExited;
    reader.release();
    await done;
    expect(received).toBe(TOTAL);
    reader.close();
  });
});
