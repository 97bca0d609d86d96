// Where the configuration comes from: defaults < config file < CRISP_* environment < command-line flags.
import { promises as fs } from 'node:fs';
import { parse as parseToml, stringify as stringifyToml, TomlError } from 'smol-toml';
import { ConfigError, CrispConfig, DEFAULT_CONFIG, configToRaw, validateConfig } from './schema';

export const DEFAULT_CONFIG_FILE = '/etc/crisp/config.toml';

/** The settings that flags and environment variables may override. */
export interface ConfigOverrides {
  configFile?: string;
  listen?: string;
  containerdAddress?: string;
  containerdNamespace?: string;
  stateDir?: string;
  logLevel?: string;
  metricsAddress?: string;
}

export interface LoadedConfig {
  config: CrispConfig;
  /** The file read, if any. */
  file?: string;
  /** True when the containerd address came from a file, env or flag rather than the default. */
  containerdAddressConfigured: boolean;
}

const ENV: Record<keyof ConfigOverrides, string> = {
  configFile: 'CRISP_CONFIG',
  listen: 'CRISP_LISTEN',
  containerdAddress: 'CRISP_CONTAINERD_ADDRESS',
  containerdNamespace: 'CRISP_CONTAINERD_NAMESPACE',
  stateDir: 'CRISP_STATE_DIR',
  logLevel: 'CRISP_LOG_LEVEL',
  metricsAddress: 'CRISP_METRICS_ADDRESS',
};

export function overridesFromEnv(env: NodeJS.ProcessEnv): ConfigOverrides {
  const out: ConfigOverrides = {};
  for (const [k, name] of Object.entries(ENV) as [keyof ConfigOverrides, string][]) {
    const v = env[name];
    if (v !== undefined && v !== '') out[k] = v;
  }
  return out;
}

export function parseConfigText(text: string, source: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      throw new ConfigError(source, `invalid TOML at line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`);
    }
    throw err;
  }
}

/** Loads the config: `flags` win over `env`, which win over the file, which wins over the defaults. */
export async function loadConfig(flags: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const o: ConfigOverrides = { ...overridesFromEnv(env), ...stripUndefined(flags) };
  let raw: Record<string, unknown> = {};
  let file: string | undefined;
  if (o.configFile) {
    file = o.configFile;
    raw = parseConfigText((await readConfigFile(file, true)) ?? '', file);
  } else {
    const text = await readConfigFile(DEFAULT_CONFIG_FILE, false);
    if (text !== undefined) {
      file = DEFAULT_CONFIG_FILE;
      raw = parseConfigText(text, file);
    }
  }

  const containerdTable = raw['containerd'];
  const fileSetsAddress =
    typeof containerdTable === 'object' && containerdTable !== null && 'address' in (containerdTable as object);

  // Overrides go through the same validation as the file, so a bad flag gets the same precise error.
  const merged = structuredClone(raw);
  const set = (path: string[], value: string | undefined): void => {
    if (value === undefined) return;
    let t = merged as Record<string, unknown>;
    for (const p of path.slice(0, -1)) {
      if (typeof t[p] !== 'object' || t[p] === null) t[p] = {};
      t = t[p] as Record<string, unknown>;
    }
    t[path[path.length - 1] as string] = value;
  };
  set(['listen'], o.listen);
  set(['state_dir'], o.stateDir);
  set(['log_level'], o.logLevel);
  set(['metrics', 'address'], o.metricsAddress);
  set(['containerd', 'address'], o.containerdAddress);
  set(['containerd', 'namespace'], o.containerdNamespace);

  const config = validateConfig(merged, DEFAULT_CONFIG);
  return {
    config,
    ...(file ? { file } : {}),
    containerdAddressConfigured: fileSetsAddress || o.containerdAddress !== undefined,
  };
}

async function readConfigFile(file: string, required: boolean): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return undefined;
    throw new ConfigError(file, `cannot read config file: ${(err as Error).message}`);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The full default config as TOML, for `crisp config default`. */
export function defaultConfigToml(): string {
  return stringifyToml(configToRaw(DEFAULT_CONFIG)) + '\n';
}
