#!/usr/bin/env node
// Manual use: build the fixture images and push them to a registry.
//   node e2e/dist/images/cli.js push <registry-host> [--user user:password] [name...]
//   node e2e/dist/images/cli.js build [name...]      (build into the cache, print digests)
//   node e2e/dist/images/cli.js list
import { buildFixture, cacheDir, FIXTURE_NAMES, FixtureName, FIXTURES, pushFixtures } from './index';

const USAGE = `usage:
  cli.js push <registry-host:port> [--user user:password] [name...]
  cli.js build [name...]
  cli.js list
fixtures: ${FIXTURE_NAMES.join(', ')}; cache: ${cacheDir()} ($CRISP_FIXTURE_CACHE)
`;

function out(s: string): void {
  process.stdout.write(s);
}

function names(args: string[]): FixtureName[] {
  for (const a of args) {
    if (!(FIXTURE_NAMES as string[]).includes(a)) throw new Error(`unknown fixture "${a}"\n${USAGE}`);
  }
  return args.length ? (args as FixtureName[]) : FIXTURE_NAMES;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === 'list') {
    for (const n of FIXTURE_NAMES) out(`${n}\t${FIXTURES[n].repository}:${FIXTURES[n].tag}\n`);
    return;
  }
  if (cmd === 'build') {
    for (const n of names(rest)) {
      const img = await buildFixture(n);
      out(`${n}\t${img.digest}\t${img.configBlob?.digest ?? '(index)'}\n`);
    }
    return;
  }
  if (cmd === 'push') {
    const [host, ...more] = rest;
    if (!host) throw new Error(USAGE);
    let auth: { username: string; password: string } | undefined;
    const picked: string[] = [];
    for (let i = 0; i < more.length; i++) {
      if (more[i] === '--user') {
        const v = more[++i] ?? '';
        const at = v.indexOf(':');
        if (at < 0) throw new Error('--user wants user:password');
        auth = { username: v.slice(0, at), password: v.slice(at + 1) };
      } else picked.push(more[i]);
    }
    const pushed = await pushFixtures({ host, auth }, names(picked));
    for (const p of Object.values(pushed)) out(`${p.reference}\t${p.digest}\n`);
    return;
  }
  out(USAGE);
  if (cmd !== undefined && cmd !== 'help' && cmd !== '--help') process.exitCode = 2;
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
