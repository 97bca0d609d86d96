// Temp dirs for tests: short paths under /tmp (unix socket paths are limited to 107 bytes),
// removed at clean-up unless CRISP_E2E_KEEP=1 (for looking at logs after a failure).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { onCleanup } from './cleanup';

export const TEMP_ROOT = '/tmp';

export function keepTempDirs(): boolean {
  return process.env.CRISP_E2E_KEEP === '1';
}

/** mkdtemp under /tmp (`/tmp/<prefix>XXXXXX`). Removed by runCleanups() unless `keep`. */
export function makeTempDir(prefix = 'crisp-e2e-', opts: { keep?: boolean } = {}): string {
  const dir = fs.mkdtempSync(path.join(TEMP_ROOT, prefix));
  if (!opts.keep) onCleanup(`rm ${dir}`, () => removeDir(dir));
  return dir;
}

/** rm -rf, unless CRISP_E2E_KEEP=1. */
export function removeDir(dir: string): void {
  if (keepTempDirs()) return;
  fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}
