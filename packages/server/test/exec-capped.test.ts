import { CappedOutput, EXEC_SYNC_OUTPUT_CAP } from '../src/exec/capped';

describe('CappedOutput', () => {
  it('defaults to 16 MiB, as kubelet expects', () => {
    expect(EXEC_SYNC_OUTPUT_CAP).toBe(16 * 1024 * 1024);
    expect(new CappedOutput().cap).toBe(EXEC_SYNC_OUTPUT_CAP);
  });

  it('keeps everything under the cap, in order', () => {
    const c = new CappedOutput(10);
    c.push(Buffer.from('abc'));
    c.push(Buffer.alloc(0));
    c.push(Buffer.from('def'));
    expect(c.toBuffer().toString()).toBe('abcdef');
    expect(c.length).toBe(6);
    expect(c.dropped).toBe(0);
    expect(c.truncated).toBe(false);
  });

  it('keeps exactly the cap, splitting the chunk that crosses it, and counts the rest', () => {
    const c = new CappedOutput(10);
    c.push(Buffer.from('0123456'));
    c.push(Buffer.from('789abc'));
    c.push(Buffer.from('defgh'));
    expect(c.toBuffer().toString()).toBe('0123456789');
    expect(c.length).toBe(10);
    expect(c.dropped).toBe(3 + 5);
    expect(c.truncated).toBe(true);
  });

  it('a chunk exactly filling the cap is not truncation', () => {
    const c = new CappedOutput(4);
    c.push(Buffer.from('abcd'));
    expect(c.truncated).toBe(false);
    c.push(Buffer.from('e'));
    expect(c.truncated).toBe(true);
    expect(c.toBuffer().toString()).toBe('abcd');
  });

  it('does not hold on to dropped chunks', () => {
    const c = new CappedOutput(1024);
    const big = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 100; i++) c.push(big);
    expect(c.length).toBe(1024);
    expect(c.dropped).toBe(100 * big.length - 1024);
    // One kept chunk: a view of the first 1 KiB.
    expect((c as unknown as { chunks: Buffer[] }).chunks).toHaveLength(1);
  });

  it('a cap of 0 keeps nothing', () => {
    const c = new CappedOutput(0);
    c.push(Buffer.from('x'));
    expect(c.toBuffer()).toHaveLength(0);
    expect(c.dropped).toBe(1);
  });

  it('head() gives at most the first n kept bytes across chunks', () => {
    const c = new CappedOutput(100);
    c.push(Buffer.from('ab'));
    c.push(Buffer.from('cde'));
    c.push(Buffer.from('fg'));
    expect(c.head(4).toString()).toBe('abcd');
    expect(c.head(100).toString()).toBe('abcdefg');
    expect(c.head(0)).toHaveLength(0);
  });

  it('rejects a bad cap', () => {
    expect(() => new CappedOutput(-1)).toThrow(RangeError);
    expect(() => new CappedOutput(1.5)).toThrow(RangeError);
  });
});
