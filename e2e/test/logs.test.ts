// Container stdio → CRI log files, with real FIFOs and shell writers (no containerd needed): the
// shell plays the shim, opening the FIFOs for writing the way it does.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
// The harness's leaf modules, not '@crisp/e2e' as a whole: that one loads all of the server.
import { makeTempDir } from '../src/tmp';
import { killOnExit, sleep, waitChildExit, waitFor } from '../src/proc';
import { createLogger } from '../../packages/server/src/log';
import {
  ContainerFifos,
  ContainerLogger,
  createFifos,
  FifoReader,
  openFifoReader,
  openFifoWriter,
  OutputListener,
  removeFifos,
} from '../../packages/server/src/logs';

jest.setTimeout(60_000);

const log = createLogger('silent');

interface Rec {
  ts: string;
  stream: string;
  tag: string;
  content: string;
}

const REC_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/s;

function parseLog(file: string): Rec[] {
  const text = fs.readFileSync(file, 'latin1');
  if (text === '') return [];
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => {
      const m = REC_RE.exec(line);
      if (!m) throw new Error(`not a CRI log record: ${JSON.stringify(line.slice(0, 200))}`);
      return { ts: m[1]!, stream: m[2]!, tag: m[3]!, content: m[4]! };
    });
}

/** What `kubectl logs` shows of one stream: F content + "\n", P content as is. */
function view(recs: Rec[], stream: string): string {
  return recs
    .filter((r) => r.stream === stream)
    .map((r) => r.content + (r.tag === 'F' ? '\n' : ''))
    .join('');
}

function contents(recs: Rec[], stream?: string): string[] {
  return recs.filter((r) => stream === undefined || r.stream === stream).map((r) => r.content);
}

/** Runs `script` in sh with "$1".. set to args; resolves with the exit code. */
function sh(script: string, args: string[] = []): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn('sh', ['-c', script, 'sh', ...args], { stdio: 'ignore' });
  killOnExit(child);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  return { child, exited };
}

/** This process's descriptors that point into `dir` (named FIFOs show their path). */
function fdsUnder(dir: string): string[] {
  const found: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + '/')) found.push(target);
    } catch {
      // closed meanwhile
    }
  }
  return found;
}

interface Rig {
  fifos: ContainerFifos;
  stdout: FifoReader;
  stderr?: FifoReader;
  logger: ContainerLogger;
  logPath: string;
}

async function rig(root: string, id: string, opts: { tty?: boolean; logPath?: string; maxLineBytes?: number } = {}): Promise<Rig> {
  const fifos = await createFifos(path.join(root, 'io'), id, { tty: opts.tty });
  const stdout = await openFifoReader(fifos.stdout);
  const stderr = fifos.stderr ? await openFifoReader(fifos.stderr) : undefined;
  const logPath = opts.logPath ?? path.join(root, 'pods', id, '0.log');
  const logger = await ContainerLogger.open({ path: logPath, stdout, stderr, logger: log, maxLineBytes: opts.maxLineBytes });
  return { fifos, stdout, stderr, logger, logPath };
}

describe('FIFOs', () => {
  const root = makeTempDir('crisp-logs-');

  it('creates stdout and stderr FIFOs, mode 0600, in a per-container directory', async () => {
    const f = await createFifos(path.join(root, 'io'), 'c1');
    expect(f).toEqual({ dir: path.join(root, 'io', 'c1'), stdout: path.join(root, 'io', 'c1', 'stdout'), stderr: path.join(root, 'io', 'c1', 'stderr') });
    for (const p of [f.stdout, f.stderr!]) {
      const st = fs.lstatSync(p);
      expect(st.isFIFO()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
    }
    expect(fs.statSync(f.dir).mode & 0o777).toBe(0o700);
  });

  it('adds stdin on request and leaves out stderr for a TTY', async () => {
    const f = await createFifos(path.join(root, 'io'), 'c2', { stdin: true, tty: true });
    expect(f.stdin).toBe(path.join(f.dir, 'stdin'));
    expect(f.stderr).toBeUndefined();
    expect(fs.readdirSync(f.dir).sort()).toEqual(['stdin', 'stdout']);
    expect(fs.lstatSync(f.stdin!).isFIFO()).toBe(true);
  });

  it('reuses existing FIFOs (retries, restarts) and rejects bad ids and non-FIFOs', async () => {
    const a = await createFifos(path.join(root, 'io'), 'c3');
    const ino = fs.lstatSync(a.stdout).ino;
    const b = await createFifos(path.join(root, 'io'), 'c3', { stdin: true });
    expect(fs.lstatSync(b.stdout).ino).toBe(ino);
    expect(fs.lstatSync(b.stdin!).isFIFO()).toBe(true);
    await expect(createFifos(path.join(root, 'io'), '../x')).rejects.toThrow(/invalid container id/);
    await expect(createFifos('relative', 'c')).rejects.toThrow(/absolute/);
    fs.mkdirSync(path.join(root, 'io', 'c4'), { recursive: true });
    fs.writeFileSync(path.join(root, 'io', 'c4', 'stdout'), '');
    await expect(createFifos(path.join(root, 'io'), 'c4')).rejects.toThrow(/not a FIFO/);
    await expect(openFifoReader(path.join(root, 'io', 'c4', 'stdout'))).rejects.toThrow(/not a FIFO/);
  });

  it('removeFifos removes the directory and is idempotent', async () => {
    const f = await createFifos(path.join(root, 'io'), 'c5', { stdin: true });
    const r = await openFifoReader(f.stdout); // open FIFOs may be removed
    await removeFifos(f.dir);
    expect(fs.existsSync(f.dir)).toBe(false);
    await removeFifos(f.dir);
    r.close();
  });

  it('opens without blocking the libuv pool: 8 readers without writers, file I/O still runs', async () => {
    const readers: FifoReader[] = [];
    for (let i = 0; i < 8; i++) {
      const f = await createFifos(path.join(root, 'io'), `idle${i}`);
      readers.push(await openFifoReader(f.stdout), await openFifoReader(f.stderr!));
    }
    const small = path.join(root, 'small.txt');
    fs.writeFileSync(small, 'hello');
    // With blocking FIFO opens, all 4 pool threads would be stuck and this would never finish.
    const started = Date.now();
    const result = await Promise.race([
      Promise.all(Array.from({ length: 16 }, () => fs.promises.readFile(small, 'utf8'))),
      sleep(5_000).then(() => 'timed out'),
    ]);
    expect(result).toEqual(Array(16).fill('hello'));
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const r of readers) r.close();
  });

  it('a reader stays open while writers come and go, and ends after release()', async () => {
    const f = await createFifos(path.join(root, 'io'), 'rel');
    const r = await openFifoReader(f.stdout);
    const chunks: string[] = [];
    let ended = false;
    r.stream.on('data', (c: Buffer) => chunks.push(c.toString()));
    r.stream.on('end', () => (ended = true));
    for (let i = 0; i < 3; i++) {
      expect(await sh('echo "w$2" > "$1"', [f.stdout, String(i)]).exited).toBe(0);
    }
    await waitFor('three lines', () => chunks.join('') === 'w0\nw1\nw2\n');
    await sleep(100);
    expect(ended).toBe(false);
    r.release();
    await waitFor('end after release', () => ended);
    expect(r.released).toBe(true);
  });

  it('release() with no writer ever ends at once; a held writer delays the end', async () => {
    const f = await createFifos(path.join(root, 'io'), 'rel2');
    const r1 = await openFifoReader(f.stdout);
    const ended1 = new Promise((resolve) => r1.stream.on('end', resolve));
    r1.stream.resume();
    r1.release();
    await ended1;

    const r2 = await openFifoReader(f.stderr!);
    let ended2 = false;
    let got = '';
    r2.stream.on('data', (c: Buffer) => (got += c.toString()));
    r2.stream.on('end', () => (ended2 = true));
    const w = sh('exec >"$1"; echo first; sleep 0.5; echo last', [f.stderr!]);
    await waitFor('the writer', () => got === 'first\n');
    r2.release();
    await sleep(200);
    expect(ended2).toBe(false); // the writer still has it open
    await w.exited;
    await waitFor('end once the writer closed', () => ended2);
    expect(got).toBe('first\nlast\n');
  });

  it('the stdin writer feeds a reader, and closing it gives EOF', async () => {
    const f = await createFifos(path.join(root, 'io'), 'in', { stdin: true });
    const out = await openFifoReader(f.stdout);
    let got = '';
    out.stream.on('data', (c: Buffer) => (got += c.toString()));
    const w = await openFifoWriter(f.stdin!);
    // Written before the "shim" opens the read side: waits in the FIFO (as long as the writer
    // stays open; the shim opens its side at Tasks.Create, before anyone writes stdin).
    w.stream.write('hello\n');
    const cat = sh('cat <"$1" >"$2"; echo "eof" >"$2"', [f.stdin!, f.stdout]);
    w.stream.write('world\n');
    await waitFor('cat copying', () => got === 'hello\nworld\n');
    w.close();
    expect(await cat.exited).toBe(0);
    await waitFor('cat output', () => got === 'hello\nworld\neof\n');
    out.close();
  });

  it('does not leak descriptors', async () => {
    const leakRoot = path.join(root, 'leaks');
    for (let i = 0; i < 5; i++) {
      const r = await rig(leakRoot, `leak${i}`);
      expect(fdsUnder(leakRoot).length).toBeGreaterThanOrEqual(5); // 2 readers, 2 keepalives, the log
      await sh('echo out; echo err >&2', []).exited; // unrelated child
      await sh('exec >"$1" 2>"$2"; echo out; echo err >&2', [r.fifos.stdout, r.fifos.stderr!]).exited;
      await r.logger.close();
      const w = await openFifoWriter(r.fifos.stdout);
      w.destroy();
    }
    await waitFor('descriptors closed', () => fdsUnder(leakRoot).length === 0, 2_000).catch(() => undefined);
    expect(fdsUnder(leakRoot)).toEqual([]);
  });
});

describe('ContainerLogger', () => {
  const root = makeTempDir('crisp-logs-');

  it('logs stdout and stderr of a process in CRI format', async () => {
    const r = await rig(root, 'basic');
    const { exited } = sh('exec >"$1" 2>"$2"; echo out; sleep 0.2; echo err >&2; printf "no newline"', [r.fifos.stdout, r.fifos.stderr!]);
    expect(await exited).toBe(0);
    // The task exited: release the FIFOs and wait for their EOF.
    await r.logger.close();
    await r.logger.done;
    const recs = parseLog(r.logPath);
    expect(recs.map((x) => [x.stream, x.tag, x.content])).toEqual([
      ['stdout', 'F', 'out'],
      ['stderr', 'F', 'err'],
      ['stdout', 'P', 'no newline'],
    ]);
    // Timestamps increase in file order.
    const ts = recs.map((x) => x.ts);
    expect([...ts].sort()).toEqual(ts);
    expect(new Set(ts).size).toBe(ts.length);
    expect(Math.abs(Date.parse(ts[0]!) - Date.now())).toBeLessThan(10_000);
    expect(fs.statSync(r.logPath).mode & 0o777).toBe(0o640);
    expect(r.logger.closed).toBe(true);
    await expect(r.logger.reopen()).rejects.toThrow(/closed/);
  });

  it('keeps logging while the writer opens and closes the FIFO repeatedly', async () => {
    const r = await rig(root, 'reopenw');
    for (let i = 0; i < 5; i++) {
      expect(await sh('echo "line $2" >"$1"; echo "eline $2" >"$3"', [r.fifos.stdout, String(i), r.fifos.stderr!]).exited).toBe(0);
    }
    await waitFor('10 records', () => fs.existsSync(r.logPath) && parseLog(r.logPath).length === 10);
    await sleep(100);
    expect(r.logger.closed).toBe(false);
    await sh('echo later >"$1"', [r.fifos.stdout]).exited;
    await r.logger.close();
    const recs = parseLog(r.logPath);
    expect(contents(recs, 'stdout')).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'later']);
    expect(contents(recs, 'stderr')).toEqual(['eline 0', 'eline 1', 'eline 2', 'eline 3', 'eline 4']);
  });

  it('reopen() after kubelet renamed the file: old lines stay in the renamed file, new ones go to the path', async () => {
    const r = await rig(root, 'rotate');
    await sh('exec >"$1" 2>"$2"; echo before1; echo before2 >&2', [r.fifos.stdout, r.fifos.stderr!]).exited;
    await waitFor('first lines', () => fs.existsSync(r.logPath) && parseLog(r.logPath).length === 2);
    const rotated = `${r.logPath}.20240101-000000`;
    fs.renameSync(r.logPath, rotated);
    await r.logger.reopen();
    expect(fs.existsSync(r.logPath)).toBe(true);
    await sh('exec >"$1" 2>"$2"; echo after1; echo after2 >&2', [r.fifos.stdout, r.fifos.stderr!]).exited;
    await r.logger.close();
    expect(contents(parseLog(rotated)).sort()).toEqual(['before1', 'before2']);
    expect(contents(parseLog(r.logPath)).sort()).toEqual(['after1', 'after2']);
  });

  it('rotating under a continuous writer loses and duplicates nothing', async () => {
    const r = await rig(root, 'rotate2');
    const stop = path.join(root, 'rotate2.stop');
    // Counts until told to stop, one write per line, so the rotations happen mid-stream.
    const w = sh('exec >"$1"; i=0; while [ ! -e "$2" ]; do i=$((i+1)); echo "$i"; done', [r.fifos.stdout, stop]);
    const rotated: string[] = [];
    for (let i = 0; i < 5; i++) {
      await waitFor('some output', () => fs.existsSync(r.logPath) && fs.statSync(r.logPath).size > 0, 10_000, 5);
      const to = `${r.logPath}.${i}`;
      fs.renameSync(r.logPath, to);
      rotated.push(to);
      await r.logger.reopen();
    }
    fs.writeFileSync(stop, '');
    expect(await w.exited).toBe(0);
    await r.logger.close();
    const perFile = [...rotated, r.logPath].map((f) => contents(parseLog(f)));
    for (const recs of perFile.slice(0, -1)) expect(recs.length).toBeGreaterThan(0);
    const all = perFile.flat();
    expect(all.length).toBeGreaterThan(100);
    for (let i = 0; i < all.length; i++) if (all[i] !== String(i + 1)) throw new Error(`record ${i} is ${all[i]}`);
  });

  it('re-creates a removed log directory on reopen()', async () => {
    const r = await rig(root, 'rmdir');
    await sh('echo one >"$1"', [r.fifos.stdout]).exited;
    await waitFor('first line', () => fs.existsSync(r.logPath) && parseLog(r.logPath).length === 1);
    fs.rmSync(path.dirname(r.logPath), { recursive: true });
    await r.logger.reopen();
    await sh('echo two >"$1"', [r.fifos.stdout]).exited;
    await r.logger.close();
    expect(contents(parseLog(r.logPath))).toEqual(['two']);
  });

  it('reopen() that cannot open the path rejects and keeps writing to the old file', async () => {
    const r = await rig(root, 'badreopen');
    const dir = path.dirname(r.logPath);
    await sh('echo one >"$1"', [r.fifos.stdout]).exited;
    await waitFor('first line', () => fs.existsSync(r.logPath) && parseLog(r.logPath).length === 1);
    // The directory replaced by a file: mkdir and open fail.
    const moved = `${dir}.moved`;
    fs.renameSync(dir, moved);
    fs.writeFileSync(dir, 'in the way');
    await expect(r.logger.reopen()).rejects.toThrow();
    await sh('echo two >"$1"', [r.fifos.stdout]).exited;
    await r.logger.close();
    expect(contents(parseLog(path.join(moved, path.basename(r.logPath))))).toEqual(['one', 'two']);
    fs.rmSync(dir);
  });

  it('logs a TTY container (stdout only, "\\r\\n" line ends) as stdout', async () => {
    const r = await rig(root, 'tty', { tty: true });
    expect(r.stderr).toBeUndefined();
    await sh('printf "a\\r\\nb\\r\\n\\r\\nprompt# " >"$1"', [r.fifos.stdout]).exited;
    await r.logger.close();
    expect(parseLog(r.logPath).map((x) => [x.stream, x.tag, x.content])).toEqual([
      ['stdout', 'F', 'a'],
      ['stdout', 'F', 'b'],
      ['stdout', 'F', ''],
      ['stdout', 'P', 'prompt# '],
    ]);
  });

  it('splits long lines into P records of maxLineBytes', async () => {
    const r = await rig(root, 'long');
    await sh('head -c 40960 /dev/zero | tr "\\0" x >"$1"; echo >"$1"', [r.fifos.stdout]).exited;
    await r.logger.close();
    const recs = parseLog(r.logPath);
    expect(recs.map((x) => `${x.tag}${x.content.length}`)).toEqual(['P16384', 'P16384', 'F8192']);
  });

  it('without a log path, drains the output and still tees it', async () => {
    const fifos = await createFifos(path.join(root, 'io'), 'nolog');
    const stdout = await openFifoReader(fifos.stdout);
    const logger = await ContainerLogger.open({ stdout, logger: log });
    let seen = 0;
    logger.onOutput({ data: (_s, c) => void (seen += c.length) });
    // 1 MB is far more than a pipe holds: the writer only finishes if it is drained.
    expect(await sh('head -c 1000000 /dev/zero >"$1"', [fifos.stdout]).exited).toBe(0);
    await logger.close();
    expect(seen).toBe(1_000_000);
    expect(logger.stats.writtenBytes).toBe(0);
  });

  it('close({ waitForEof: false }) stops at once; a timed-out EOF wait closes anyway', async () => {
    const a = await rig(root, 'noeof');
    const holder = sh('exec >"$1"; echo hi; sleep 30', [a.fifos.stdout]);
    await waitFor('hi', () => fs.existsSync(a.logPath) && parseLog(a.logPath).length === 1);
    let t = Date.now();
    await a.logger.close({ waitForEof: false });
    expect(Date.now() - t).toBeLessThan(2_000);

    const b = await rig(root, 'noeof2');
    const holder2 = sh('exec >"$1"; echo hi; sleep 30', [b.fifos.stdout]);
    await waitFor('hi', () => fs.existsSync(b.logPath) && parseLog(b.logPath).length === 1);
    t = Date.now();
    await b.logger.close({ timeoutMs: 300 });
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    expect(contents(parseLog(b.logPath))).toEqual(['hi']);
    for (const h of [holder, holder2]) {
      h.child.kill('SIGKILL');
      await waitChildExit(h.child, 5_000);
    }
  });

  it('tees raw output to listeners; a stuck listener gets drops, not the log', async () => {
    const r = await rig(root, 'tee');
    let fast = '';
    let fastEnded = false;
    r.logger.onOutput({ data: (s, c) => void (fast += `${s}:${c.toString()}`), end: () => (fastEnded = true) });
    let dropped = 0;
    let slowCalls = 0;
    const slow: OutputListener = {
      data: () => {
        slowCalls++;
        return new Promise(() => undefined); // never done
      },
      dropped: (n) => (dropped += n),
    };
    r.logger.onOutput(slow, { maxQueuedBytes: 1024 });
    let removedCalls = 0;
    const off = r.logger.onOutput({ data: () => void removedCalls++ });
    off();
    await sh('exec >"$1"; echo a; sleep 0.1; i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done', [r.fifos.stdout]).exited;
    await r.logger.close();
    expect(fast.startsWith('stdout:a\n')).toBe(true);
    expect(fastEnded).toBe(true);
    expect(slowCalls).toBe(1);
    expect(dropped).toBeGreaterThan(0); // told at the first drop, although it never catches up
    expect(removedCalls).toBe(0);
    expect(parseLog(r.logPath)).toHaveLength(2001);
  });

  it('tells a listener that catches up how much it missed', async () => {
    const r = await rig(root, 'tee2');
    let release!: () => void;
    const events: string[] = [];
    let first = true;
    r.logger.onOutput(
      {
        data: (_s, c) => {
          events.push(`data ${c.length}`);
          if (!first) return;
          first = false;
          return new Promise<void>((resolve) => (release = resolve));
        },
        dropped: (n) => events.push(`dropped ${n}`),
        end: () => events.push('end'),
      },
      { maxQueuedBytes: 10 },
    );
    await sh('exec >"$1"; echo a; sleep 0.2; echo bbbb; sleep 0.2; echo cccccccccccccccccccc', [r.fifos.stdout]).exited;
    await waitFor('all logged', () => parseLog(r.logPath).length === 3);
    release();
    await r.logger.close();
    // "a\n" delivered; "bbbb\n" (5 bytes) queued; 21 bytes over the limit dropped and told at once.
    expect(events).toEqual(['data 2', 'dropped 21', 'data 5', 'end']);
  });

  it('pauses its sources when the file queue is full (bounded memory) and loses nothing', async () => {
    const src = new PassThrough({ highWaterMark: 16 * 1024 });
    const logPath = path.join(root, 'pods', 'bp', '0.log');
    const logger = await ContainerLogger.open({ path: logPath, stdout: src, logger: log, highWaterMark: 64 * 1024 });
    const pause = jest.spyOn(src, 'pause');
    const resume = jest.spyOn(src, 'resume');
    const line = 'x'.repeat(99) + '\n';
    let written = 0;
    const total = 20_000;
    // Write like a well-behaved producer: respect write() === false.
    while (written < total) {
      if (!src.write(line)) await new Promise((resolve) => src.once('drain', resolve));
      written++;
    }
    src.end();
    await logger.done;
    expect(pause).toHaveBeenCalled();
    expect(resume).toHaveBeenCalled();
    const recs = parseLog(logPath);
    expect(recs).toHaveLength(total);
    expect(recs.every((x) => x.content === 'x'.repeat(99) && x.tag === 'F')).toBe(true);
  });

  it('10 containers with 5 MB of output each finish without blocking the event loop', async () => {
    const n = 10;
    const size = 5_000_000;
    const rigs = await Promise.all(Array.from({ length: n }, (_, i) => rig(root, `big${i}`)));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 10);
    const started = Date.now();
    const writers = rigs.map((r) =>
      sh('exec >"$1" 2>"$2"; yes "the quick brown fox jumps over the lazy dog 0123456789" | head -c "$3"; head -c 100000 /dev/zero | tr "\\0" e >&2', [
        r.fifos.stdout,
        r.fifos.stderr!,
        String(size),
      ]),
    );
    for (const w of writers) expect(await w.exited).toBe(0);
    await Promise.all(rigs.map((r) => r.logger.close()));
    const elapsed = Date.now() - started;
    clearInterval(ticker);
    delay.disable();
    // The histogram samples every `resolution` ms, so an idle loop shows ~10 ms: subtract it.
    const ms = (ns: number) => (ns / 1e6 - 10).toFixed(1);
    process.stderr.write(
      `logs: ${n} x ${size} B in ${elapsed} ms; event-loop delay beyond the 10 ms sampling: ` +
        `mean ${ms(delay.mean)} ms, p99 ${ms(delay.percentile(99))} ms, max ${ms(delay.max)} ms; ` +
        `a 10 ms interval fired ${ticks} times (${Math.floor(elapsed / 10)} ideal)\n`,
    );
    const yesLine = 'the quick brown fox jumps over the lazy dog 0123456789\n';
    const expected = yesLine.repeat(Math.ceil(size / yesLine.length)).slice(0, size);
    for (const r of rigs) {
      const recs = parseLog(r.logPath);
      expect(view(recs, 'stdout')).toBe(expected);
      expect(view(recs, 'stderr')).toBe('e'.repeat(100_000));
      // The 100 KB line without a newline: six 16 KiB P records and a P with the rest.
      expect(recs.filter((x) => x.stream === 'stderr').map((x) => x.content.length)).toEqual([16384, 16384, 16384, 16384, 16384, 16384, 1696]);
      expect(r.logger.stats.droppedBytes).toBe(0);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('cleans up its FIFOs', async () => {
    const r = await rig(root, 'cleanup');
    await r.logger.close();
    await removeFifos(r.fifos.dir);
    expect(fs.existsSync(r.fifos.dir)).toBe(false);
    await removeFifos(r.fifos.dir);
  });
});
