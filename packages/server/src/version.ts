// crisp's version is the server package's version; read once at start-up.
import { readFileSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

export function crispVersion(): string {
  // Works from src/ (tests) and dist/ (built): package.json is one level up from both.
  cached ??= (JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
