// Finding the pod network configuration the way libcni does: the conf dir's .conf/.conflist/.json files in
// lexical order, the first valid one wins (a single .conf is lifted into a one-plugin list).
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';

export interface CniPluginConfig {
  type: string;
  [key: string]: unknown;
}

export interface CniNetworkConfig {
  /** The file it came from. */
  file: string;
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  plugins: CniPluginConfig[];
  /** The list as the plugins will see it (a .conf lifted into a conflist). */
  raw: Record<string, unknown>;
}

export interface CniConfigLoad {
  network?: CniNetworkConfig;
  /** Files that were skipped, and why: shown when no network is usable. */
  rejected: { file: string; reason: string }[];
}

const EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

export class CniConfigError extends Error {
  override name = 'CniConfigError';
}

/** Validates one config file's text; throws CniConfigError with the reason. */
export function parseCniConfig(file: string, text: string): CniNetworkConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CniConfigError(`invalid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CniConfigError('not a JSON object');
  const obj = json as Record<string, unknown>;
  const isList = path.extname(file) === '.conflist' || Array.isArray(obj['plugins']);

  let list: Record<string, unknown>;
  if (isList) {
    list = obj;
  } else {
    if (typeof obj['type'] !== 'string' || obj['type'] === '') throw new CniConfigError('a single network config needs a "type"');
    list = { cniVersion: obj['cniVersion'], name: obj['name'], plugins: [obj] };
  }
  const name = list['name'];
  if (typeof name !== 'string' || name === '') throw new CniConfigError('missing network "name"');
  const plugins = list['plugins'];
  if (!Array.isArray(plugins) || plugins.length === 0) throw new CniConfigError('"plugins" must be a non-empty list');
  plugins.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || typeof (p as Record<string, unknown>)['type'] !== 'string' || !(p as Record<string, unknown>)['type']) {
      throw new CniConfigError(`plugins[${i}] has no "type"`);
    }
  });
  const cniVersion = typeof list['cniVersion'] === 'string' && list['cniVersion'] ? list['cniVersion'] : '0.4.0';
  return {
    file,
    name,
    cniVersion,
    disableCheck: list['disableCheck'] === true,
    plugins: plugins as CniPluginConfig[],
    raw: { ...list, cniVersion },
  };
}

/** Finds a plugin executable in the bin dirs, or undefined. */
export async function findPlugin(type: string, binDirs: string[]): Promise<string | undefined> {
  if (type.includes('/')) return undefined;
  for (const dir of binDirs) {
    const candidate = path.join(dir, type);
    try {
      await fs.access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

export async function loadCniConfig(confDir: string, binDirs: string[]): Promise<CniConfigLoad> {
  const rejected: CniConfigLoad['rejected'] = [];
  let names: string[];
  try {
    names = await fs.readdir(confDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    rejected.push({ file: confDir, reason: code === 'ENOENT' ? 'directory does not exist' : (err as Error).message });
    return { rejected };
  }
  for (const name of names.filter((n) => EXTENSIONS.has(path.extname(n))).sort()) {
    const file = path.join(confDir, name);
    try {
      const network = parseCniConfig(file, await fs.readFile(file, 'utf8'));
      for (const p of network.plugins) {
        if (!(await findPlugin(p.type, binDirs))) {
          throw new CniConfigError(`plugin "${p.type}" not found in ${binDirs.join(', ')}`);
        }
      }
      return { network, rejected };
    } catch (err) {
      rejected.push({ file, reason: (err as Error).message });
    }
  }
  return { rejected };
}

/** The NetworkReady condition for CRI Status. */
export function networkCondition(load: CniConfigLoad, confDir: string): { status: boolean; reason: string; message: string } {
  if (load.network) return { status: true, reason: '', message: '' };
  const why = load.rejected.map((r) => `${r.file}: ${r.reason}`).join('; ');
  return {
    status: false,
    reason: 'NetworkPluginNotReady',
    message: `no valid CNI network config in ${confDir}${why ? ` (${why})` : ''}`,
  };
}
