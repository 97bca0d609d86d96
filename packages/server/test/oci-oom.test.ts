import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Status } from 'nice-grpc-common';
import { CrispError } from '../src/errors';
import { SANDBOX_OOM_SCORE_ADJ, clampOomScoreAdj, parseOomScoreAdj, readOwnOomScoreAdj } from '../src/oci/oom';
import { tempDir } from './temp-dir';

describe('oom_score_adj', () => {
  it.each([
    // requested, own, expected
    [-998, 0, 0],
    [-998, -999, -998],
    [-998, -1000, -998],
    [0, 0, 0],
    [1000, 0, 1000],
    [500, 600, 600],
    [-1000, -500, -500],
    [-500, -1000, -500],
    [999n, 0, 999],
    [-5n, 0, 0],
  ])('clamp(%p, own %p) = %p', (requested, own, expected) => {
    expect(clampOomScoreAdj(requested, own)).toBe(expected);
  });

  it('uses -998 for the sandbox', () => {
    expect(SANDBOX_OOM_SCORE_ADJ).toBe(-998);
  });

  it.each([[-1001], [1001], [5000n], [-2000n]])('rejects %p as INVALID_ARGUMENT', (requested) => {
    let caught: unknown;
    try {
      clampOomScoreAdj(requested, 0);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CrispError);
    expect((caught as CrispError).code).toBe(Status.INVALID_ARGUMENT);
    expect((caught as Error).message).toMatch(/between -1000 and 1000/);
  });

  it.each([
    ['0\n', 0],
    ['-999\n', -999],
    [' 250 ', 250],
  ])('parses %j', (text, n) => {
    expect(parseOomScoreAdj(text)).toBe(n);
  });

  it.each([['abc'], [''], ['1001'], ['1.5']])('refuses %j', (text) => {
    expect(() => parseOomScoreAdj(text)).toThrow(/invalid oom_score_adj/);
  });

  it('reads its own score from /proc (and from a given file)', async () => {
    const own = await readOwnOomScoreAdj();
    expect(Number.isInteger(own)).toBe(true);
    const dir = tempDir('crisp-oom-');
    writeFileSync(path.join(dir, 'oom_score_adj'), '-500\n');
    await expect(readOwnOomScoreAdj(path.join(dir, 'oom_score_adj'))).resolves.toBe(-500);
  });
});
