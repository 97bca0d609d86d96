import {
  DEFAULT_MAX_LINE_BYTES,
  formatLine,
  CriLogEncoder,
  formatTimestamp,
  headerLength,
  LineRecord,
  LineSplitter,
  nanoTime,
} from '../src/logs/cri-log';

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

/** Records as [tag, text] pairs. */
function texts(records: LineRecord[]): Array<[string, string]> {
  return records.map((r) => [r.tag, r.content.toString('latin1')]);
}

/** Runs the whole input through a splitter in the given chunks and ends it. */
function split(chunks: Array<string | Buffer>, opts?: ConstructorParameters<typeof LineSplitter>[0]): LineRecord[] {
  const s = new LineSplitter(opts);
  const out: LineRecord[] = [];
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c, out);
  return s.end(out);
}

/** What kubelet prints for records: F content + "\n", P content as is. */
function kubeletView(records: LineRecord[]): string {
  return records.map((r) => r.content.toString('latin1') + (r.tag === 'F' ? '\n' : '')).join('');
}

describe('formatTimestamp', () => {
  it('writes RFC 3339 UTC with nine fractional digits', () => {
    expect(formatTimestamp(1475713029669794202n)).toBe('2016-10-06T00:17:09.669794202Z');
  });

  it('keeps trailing zeros (fixed width; Go RFC3339Nano would trim them)', () => {
    expect(formatTimestamp(1475713029500000000n)).toBe('2016-10-06T00:17:09.500000000Z');
    expect(formatTimestamp(1475713029000000000n)).toBe('2016-10-06T00:17:09.000000000Z');
    expect(formatTimestamp(1475713029000000001n)).toBe('2016-10-06T00:17:09.000000001Z');
  });

  it('takes a Date (millisecond precision)', () => {
    expect(formatTimestamp(new Date('2016-10-06T00:17:09.669Z'))).toBe('2016-10-06T00:17:09.669000000Z');
    expect(() => formatTimestamp(new Date('nope'))).toThrow(RangeError);
  });

  it('handles second boundaries and the epoch (cached seconds stay correct)', () => {
    expect(formatTimestamp(0n)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(formatTimestamp(999_999_999n)).toBe('1970-01-01T00:00:00.999999999Z');
    expect(formatTimestamp(1_000_000_000n)).toBe('1970-01-01T00:00:01.000000000Z');
    expect(formatTimestamp(999_999_999n)).toBe('1970-01-01T00:00:00.999999999Z');
    expect(formatTimestamp(-1n)).toBe('1969-12-31T23:59:59.999999999Z');
  });

  it('is always 30 characters and parses back to the same millisecond', () => {
    for (let i = 0; i < 1000; i++) {
      const ns = BigInt(Math.floor(Math.random() * 4e9)) * 1_000_000_000n + BigInt(Math.floor(Math.random() * 1e9));
      const ts = formatTimestamp(ns);
      expect(ts).toMatch(TS_RE);
      expect(ts).toHaveLength(30);
      expect(BigInt(Date.parse(ts))).toBe(ns / 1_000_000n);
    }
  });
});

describe('nanoTime', () => {
  it('is close to the wall clock', () => {
    const ns = nanoTime();
    const ms = Date.now();
    expect(Number(ns / 1_000_000n)).toBeGreaterThanOrEqual(ms - 50);
    expect(Number(ns / 1_000_000n)).toBeLessThanOrEqual(ms + 50);
  });

  it('is strictly increasing with nanosecond digits', () => {
    let prev = nanoTime();
    const seen = new Set<bigint>();
    for (let i = 0; i < 100_000; i++) {
      const t = nanoTime();
      expect(t > prev).toBe(true);
      prev = t;
      seen.add(t % 1_000_000n);
    }
    // Sub-millisecond digits vary (not just Date.now() * 1e6).
    expect(seen.size).toBeGreaterThan(100);
  });
});

describe('formatLine', () => {
  it('formats a record', () => {
    expect(formatLine(1475713029669794202n, 'stdout', 'F', 'the line').toString()).toBe('2016-10-06T00:17:09.669794202Z stdout F the line\n');
    expect(formatLine(1475713029669794202n, 'stderr', 'P', Buffer.from('part')).toString()).toBe('2016-10-06T00:17:09.669794202Z stderr P part\n');
  });

  it('keeps content bytes as they are (binary, UTF-8)', () => {
    const content = Buffer.from([0xe2, 0x82, 0xac, 0x00, 0xff, 0x0d]);
    const rec = formatLine(0n, 'stdout', 'F', content);
    expect(rec.subarray(headerLength('stdout'), -1)).toEqual(content);
    expect(rec.length).toBe(headerLength('stdout') + content.length + 1);
    expect(formatLine(0n, 'stdout', 'F', '€').subarray(headerLength('stdout'), -1).toString()).toBe('€');
  });

  it('formats an empty line', () => {
    expect(formatLine(0n, 'stdout', 'F', '').toString()).toBe('1970-01-01T00:00:00.000000000Z stdout F \n');
  });

  it('matches the shape kubelet parses', () => {
    const rec = formatLine(nanoTime(), 'stdout', 'F', 'hello world').toString();
    const m = /^(\S+) (stdout|stderr) ([FP]) (.*)\n$/.exec(rec);
    expect(m).not.toBeNull();
    expect(m![1]).toMatch(TS_RE);
    expect(m![4]).toBe('hello world');
  });
});

describe('LineSplitter', () => {
  it('emits complete lines as F', () => {
    expect(texts(split(['one\ntwo\n']))).toEqual([
      ['F', 'one'],
      ['F', 'two'],
    ]);
  });

  it('gives the same records for chunks split at every byte position', () => {
    const input = 'alpha\r\nbeta\n\n\r\ngam\rma\nlast\r';
    const expected = texts(split([input]));
    expect(expected).toEqual([
      ['F', 'alpha'],
      ['F', 'beta'],
      ['F', ''],
      ['F', ''],
      ['F', 'gam\rma'],
      ['P', 'last\r'],
    ]);
    for (let i = 0; i <= input.length; i++) {
      expect(texts(split([input.slice(0, i), input.slice(i)]))).toEqual(expected);
      for (let j = i; j <= input.length; j++) {
        expect(texts(split([input.slice(0, i), input.slice(i, j), input.slice(j)]))).toEqual(expected);
      }
    }
    // One byte at a time.
    expect(texts(split([...input]))).toEqual(expected);
  });

  it('drops "\\r\\n" line endings, also when split between chunks, but keeps a lone "\\r"', () => {
    expect(texts(split(['a\r', '\nb\r', 'c\n']))).toEqual([
      ['F', 'a'],
      ['F', 'b\rc'],
    ]);
    expect(texts(split(['x\r\r\n']))).toEqual([['F', 'x\r']]);
    expect(texts(split(['\r', '\n']))).toEqual([['F', '']]);
  });

  it('emits empty lines', () => {
    expect(texts(split(['\n\n', '\n']))).toEqual([
      ['F', ''],
      ['F', ''],
      ['F', ''],
    ]);
  });

  it('ignores empty chunks and empty streams', () => {
    expect(split([])).toEqual([]);
    expect(split(['', '', 'a', '', '\n'])).toHaveLength(1);
  });

  it('flushes output without a final newline at end() as P (as containerd does)', () => {
    expect(texts(split(['no newline']))).toEqual([['P', 'no newline']]);
    expect(texts(split(['done\n', 'prompt> ']))).toEqual([
      ['F', 'done'],
      ['P', 'prompt> '],
    ]);
    expect(texts(split(['no newline'], { trailingTag: 'F' }))).toEqual([['F', 'no newline']]);
  });

  it('holds back unfinished lines until they end', () => {
    const s = new LineSplitter();
    expect(s.push(Buffer.from('abc'))).toEqual([]);
    expect(s.push(Buffer.from('def\r'))).toEqual([]);
    expect(s.bufferedBytes).toBe(7);
    expect(texts(s.push(Buffer.from('\nx')))).toEqual([['F', 'abcdef']]);
    expect(texts(s.end())).toEqual([['P', 'x']]);
    expect(s.bufferedBytes).toBe(0);
    expect(s.end()).toEqual([]);
  });

  it('splits a 40 KiB line into P, P, F of 16 KiB, 16 KiB and 8 KiB', () => {
    const line = Buffer.alloc(40 * 1024);
    for (let i = 0; i < line.length; i++) line[i] = 0x61 + (i % 26);
    for (const chunk of [line.length + 1, 4096, 1000, 16 * 1024, 7]) {
      const input = Buffer.concat([line, Buffer.from('\n')]);
      const chunks: Buffer[] = [];
      for (let i = 0; i < input.length; i += chunk) chunks.push(input.subarray(i, i + chunk));
      const recs = split(chunks);
      expect(recs.map((r) => [r.tag, r.content.length])).toEqual([
        ['P', 16 * 1024],
        ['P', 16 * 1024],
        ['F', 8 * 1024],
      ]);
      expect(Buffer.concat(recs.map((r) => r.content)).equals(line)).toBe(true);
    }
    expect(DEFAULT_MAX_LINE_BYTES).toBe(16 * 1024);
  });

  it('splits only lines longer than the limit: exactly the limit is one F', () => {
    const max = 8;
    const line = (n: number) => 'x'.repeat(n) + '\n';
    const shape = (n: number) => split([line(n)], { maxLineBytes: max }).map((r) => `${r.tag}${r.content.length}`);
    expect(shape(7)).toEqual(['F7']);
    expect(shape(8)).toEqual(['F8']);
    expect(shape(9)).toEqual(['P8', 'F1']);
    expect(shape(16)).toEqual(['P8', 'F8']);
    expect(shape(17)).toEqual(['P8', 'P8', 'F1']);
    // The "\r" of "\r\n" does not count, even when it arrives alone.
    expect(split(['x'.repeat(8) + '\r', '\n'], { maxLineBytes: 8 }).map((r) => `${r.tag}${r.content.length}`)).toEqual(['F8']);
    // A lone "\r" does.
    expect(texts(split(['x'.repeat(8) + '\r', 'y\n'], { maxLineBytes: 8 }))).toEqual([
      ['P', 'xxxxxxxx'],
      ['F', '\ry'],
    ]);
  });

  it('splits long unterminated output at end() into P pieces', () => {
    expect(split(['y'.repeat(20)], { maxLineBytes: 8 }).map((r) => `${r.tag}${r.content.length}`)).toEqual(['P8', 'P8', 'P4']);
  });

  it('emits P records as soon as the limit is passed (bounded memory)', () => {
    const s = new LineSplitter({ maxLineBytes: 1024 });
    let records = 0;
    for (let i = 0; i < 1000; i++) {
      records += s.push(Buffer.alloc(100, 0x7a)).length;
      expect(s.bufferedBytes).toBeLessThanOrEqual(1024);
    }
    expect(records).toBe(Math.floor((1000 * 100 - 1) / 1024));
  });

  it('cuts at bytes, so the pieces of a UTF-8 line rejoin exactly', () => {
    const text = '€'.repeat(10); // 30 bytes
    const recs = split([Buffer.from(text + '\n')], { maxLineBytes: 7 });
    expect(recs.map((r) => r.content.length)).toEqual([7, 7, 7, 7, 2]);
    expect(Buffer.concat(recs.map((r) => r.content)).toString()).toBe(text);
  });

  it('round-trips random output through what kubelet prints', () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = 'ab\n\r\n xyz';
    for (let round = 0; round < 50; round++) {
      let input = '';
      const len = rnd(300);
      for (let i = 0; i < len; i++) input += alphabet[rnd(alphabet.length)];
      const chunks: string[] = [];
      for (let i = 0; i < input.length; ) {
        const n = 1 + rnd(20);
        chunks.push(input.slice(i, i + n));
        i += n;
      }
      const recs = split(chunks, { maxLineBytes: 1 + rnd(10) });
      // kubelet's view equals the input with "\r\n" normalised to "\n".
      expect(kubeletView(recs)).toBe(input.replace(/\r\n/g, '\n'));
    }
  });

  it('rejects a bad limit', () => {
    expect(() => new LineSplitter({ maxLineBytes: 0 })).toThrow(RangeError);
    expect(() => new LineSplitter({ maxLineBytes: 1.5 })).toThrow(RangeError);
  });
});

describe('CriLogEncoder', () => {
  const T = 1475713029669794202n;

  it('encodes the records a chunk completes, all with the chunk time', () => {
    const e = new CriLogEncoder('stderr');
    expect(e.encode(Buffer.from('one\r\ntw'), T)!.toString()).toBe('2016-10-06T00:17:09.669794202Z stderr F one\n');
    expect(e.encode(Buffer.from('o'), T + 1n)).toBeUndefined();
    expect(e.bufferedBytes).toBe(3);
    expect(e.encode(Buffer.from('\n\nthree'), T + 2n)!.toString()).toBe(
      '2016-10-06T00:17:09.669794204Z stderr F two\n' + '2016-10-06T00:17:09.669794204Z stderr F \n',
    );
    expect(e.end(T + 3n)!.toString()).toBe('2016-10-06T00:17:09.669794205Z stderr P three\n');
    expect(e.end(T + 4n)).toBeUndefined();
  });

  it('splits long lines like LineSplitter', () => {
    const e = new CriLogEncoder('stdout', { maxLineBytes: 4 });
    expect(e.encode(Buffer.from('abcdefghij\n'), 0n)!.toString()).toBe(
      '1970-01-01T00:00:00.000000000Z stdout P abcd\n' +
        '1970-01-01T00:00:00.000000000Z stdout P efgh\n' +
        '1970-01-01T00:00:00.000000000Z stdout F ij\n',
    );
  });

  it('produces exactly formatLine() of LineSplitter records, for random input and chunking', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = Buffer.from('ab\n\r\n \u00ff\u0000');
    for (let round = 0; round < 200; round++) {
      const input = Buffer.alloc(rnd(2000));
      for (let i = 0; i < input.length; i++) input[i] = rnd(5) === 0 ? 0x61 + rnd(26) : alphabet[rnd(alphabet.length)]!;
      // Some long runs without newlines, to cross the limit and the short-copy threshold.
      if (rnd(2) === 0) input.fill(0x78, rnd(input.length + 1), rnd(input.length + 1));
      const opts = { maxLineBytes: 1 + rnd(300), trailingTag: rnd(2) === 0 ? ('P' as const) : ('F' as const) };
      const enc = new CriLogEncoder('stdout', opts);
      const spl = new LineSplitter(opts);
      const got: Buffer[] = [];
      const want: Buffer[] = [];
      let time = 0n;
      for (let i = 0; i < input.length; ) {
        const n = 1 + rnd(400);
        const chunk = input.subarray(i, i + n);
        i += n;
        time += 1000n;
        const out = enc.encode(chunk, time);
        if (out) got.push(out);
        for (const r of spl.push(chunk)) want.push(formatLine(time, 'stdout', r.tag, r.content));
      }
      const out = enc.end(time + 1n);
      if (out) got.push(out);
      for (const r of spl.end()) want.push(formatLine(time + 1n, 'stdout', r.tag, r.content));
      expect(Buffer.concat(got).equals(Buffer.concat(want))).toBe(true);
    }
  });
});
