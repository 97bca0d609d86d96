// A throw-away OCI registry: Debian's docker-registry (distribution v2) on 127.0.0.1 with
// filesystem storage in a temp dir, deletes enabled, htpasswd (bcrypt) basic auth when asked.

import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { onCleanup } from './cleanup';
import { freePort, hasExited, killOnExit, runChecked, sleep, tail, waitChildExit } from './proc';
import { makeTempDir } from './tmp';

export interface RegistryAuth {
  username: string;
  password: string;
}

export interface StartRegistryOptions {
  auth?: RegistryAuth;
  /** Binary; default `docker-registry` on PATH. */
  binary?: string;
  /** How long to wait for GET /v2/; default 15 s. */
  readyTimeoutMs?: number;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>`: what goes in image references. */
  host: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  dir: string;
  logPath: string;
  /** The credentials it was started with, if any (pushFixtures uses them). */
  auth?: RegistryAuth;
  stop(): Promise<void>;
}

function registryConfig(dir: string, port: number, htpasswdPath?: string): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(path.join(dir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: crisp-e2e-not-a-secret',
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
  ];
  if (htpasswdPath) {
    lines.push('auth:', '  htpasswd:', '    realm: crisp-test', `    path: ${JSON.stringify(htpasswdPath)}`);
  }
  return lines.join('\n') + '\n';
}

/** GET /v2/ status code, or 0 when nothing answers. */
function probe(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = makeTempDir('crisp-e2e-registry-');
  let htpasswdPath: string | undefined;
  if (opts.auth) {
    htpasswdPath = path.join(dir, 'htpasswd');
    const res = await runChecked('htpasswd', ['-Bbn', opts.auth.username, opts.auth.password]);
    fs.writeFileSync(htpasswdPath, res.stdout.trim() + '\n');
  }
  const logPath = path.join(dir, 'registry.log');
  const configPath = path.join(dir, 'config.yml');
  const timeoutMs = opts.readyTimeoutMs ?? 15_000;

  // The port is free when we pick it but may be taken before the registry binds: retry.
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    fs.writeFileSync(configPath, registryConfig(dir, port, htpasswdPath));
    const fd = fs.openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(opts.binary ?? 'docker-registry', ['serve', configPath], { cwd: dir, stdio: ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    killOnExit(child);
    const stop = async (): Promise<void> => {
      if (hasExited(child)) return;
      child.kill('SIGTERM');
      if (!(await waitChildExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitChildExit(child, 5000);
      }
    };
    const deadline = Date.now() + timeoutMs;
    let ready = false;
    while (!ready) {
      if (spawnError) throw new Error(`could not spawn docker-registry: ${spawnError.message}`);
      if (hasExited(child)) break;
      const status = await probe(port);
      if (status === 200 || (opts.auth && status === 401)) ready = true;
      else if (Date.now() > deadline) break;
      else await sleep(50);
    }
    if (ready) {
      const unregister = onCleanup(`registry on 127.0.0.1:${port}`, stop);
      return {
        host: `127.0.0.1:${port}`,
        url: `http://127.0.0.1:${port}`,
        port,
        dir,
        logPath,
        auth: opts.auth,
        async stop() {
          unregister();
          await stop();
        },
      };
    }
    await stop();
    lastError = new Error(
      `docker-registry did not answer GET /v2/ on 127.0.0.1:${port} (exit code ${child.exitCode})\n--- tail of ${logPath} ---\n${tail(logPath)}`,
    );
  }
  throw lastError!;
}
