#!/usr/bin/env node
// The `crisp` command: `crisp serve`, `crisp config default|check`, `crisp version`.
import { parseArgs } from 'node:util';
import { ConfigOverrides, defaultConfigToml, loadConfig } from './config/load';
import { ConfigError, configToRaw } from './config/schema';
import { startCrisp } from './app';
import { createLogger } from './log';
import { crispVersion } from './version';
import { stringify as stringifyToml } from 'smol-toml';

const USAGE = `Usage:
  crisp serve [--config FILE] [--listen PATH] [--containerd-address PATH]
              [--containerd-namespace NS] [--state-dir DIR] [--log-level LEVEL]
              [--metrics-address HOST:PORT]
  crisp config default          print the full default configuration (TOML)
  crisp config check [--config FILE]   validate and print the effective configuration
  crisp version

Flags override the config file (default /etc/crisp/config.toml), which overrides the defaults.
Environment: CRISP_CONFIG, CRISP_LISTEN, CRISP_CONTAINERD_ADDRESS, CRISP_CONTAINERD_NAMESPACE,
CRISP_STATE_DIR, CRISP_LOG_LEVEL, CRISP_METRICS_ADDRESS (between the file and the flags).
--metrics-address (config [metrics] address) serves Prometheus /metrics there; off by default.
`;

const FLAGS = {
  config: { type: 'string' },
  listen: { type: 'string' },
  'containerd-address': { type: 'string' },
  'containerd-namespace': { type: 'string' },
  'state-dir': { type: 'string' },
  'log-level': { type: 'string' },
  'metrics-address': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function out(text: string): void {
  process.stdout.write(text);
}

function fail(message: string, code = 2): never {
  process.stderr.write(`crisp: ${message}\n`);
  process.exit(code);
}

function overrides(values: Record<string, string | boolean | undefined>): ConfigOverrides {
  const s = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  return {
    configFile: s('config'),
    listen: s('listen'),
    containerdAddress: s('containerd-address'),
    containerdNamespace: s('containerd-namespace'),
    stateDir: s('state-dir'),
    logLevel: s('log-level'),
    metricsAddress: s('metrics-address'),
  } as ConfigOverrides;
}

async function serve(o: ConfigOverrides): Promise<void> {
  const loaded = await loadConfig(o);
  const logger = createLogger(loaded.config.logLevel);
  if (loaded.file) logger.info({ file: loaded.file }, 'config loaded');
  const running = await startCrisp(loaded, logger);
  process.stderr.write(
    `crisp ${crispVersion()} is serving the CRI on unix://${running.socket}\n` +
      `  try: crictl --runtime-endpoint unix://${running.socket} --image-endpoint unix://${running.socket} version\n`,
  );
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal: sig }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal: sig }, 'signal received');
    running.stop().then(
      () => {
        logger.flush();
        process.exitCode = 0;
        // Let pino's async destination drain before exit.
        setImmediate(() => process.exit(0));
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) return out(USAGE);
  const [cmd, sub, ...rest] = positionals;
  switch (cmd) {
    case 'serve':
      if (sub !== undefined) fail(`unexpected argument "${sub}"\n\n${USAGE}`);
      return serve(overrides(values));
    case 'config':
      if (rest.length > 0) fail(`unexpected argument "${rest[0]}"`);
      if (sub === 'default') return out(defaultConfigToml());
      if (sub === 'check') {
        const loaded = await loadConfig(overrides(values));
        return out(`# ${loaded.file ?? 'no config file: defaults'}\n${stringifyToml(configToRaw(loaded.config))}\n`);
      }
      return fail(`unknown "config ${sub ?? ''}": use "config default" or "config check"`);
    case 'version':
      return out(`crisp ${crispVersion()}\n`);
    case undefined:
      return out(USAGE);
    default:
      return fail(`unknown command "${cmd}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError) fail(err.message, 2);
  fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1);
});
