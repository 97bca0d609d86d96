// CNI ADD results of every spec version, normalized into one shape (the 1.0.0 one), and the pod IPs
// kubelet wants out of them.
//
// - 1.0.0: `ips[]` of `{address, gateway?, interface?}`; no `version` field.
// - 0.3.x / 0.4.0: the same plus `version: "4"|"6"` on each IP (dropped: the address says it).
// - 0.1.0 / 0.2.0: `ip4` / `ip6` objects `{ip, gateway?, routes?}` and no interfaces.
import net from 'node:net';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The netns path for interfaces inside the container; absent for host-side ones. */
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIpConfig {
  /** CIDR, e.g. `10.88.0.5/16`. */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  [key: string]: unknown;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  /** The version the plugin answered with. */
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
}

export class CniResultError extends Error {
  override name = 'CniResultError';
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function strings(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined;
}

/** `a.b.c` compared numerically; a missing or odd part counts as 0. */
export function compareCniVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length, 3); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** A CIDR whose address part is an IP; the prefix is checked against the family. */
function validCidr(cidr: string): boolean {
  const slash = cidr.indexOf('/');
  if (slash < 0) return false;
  const family = net.isIP(cidr.slice(0, slash));
  const bits = cidr.slice(slash + 1);
  if (!family || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

function parseRoutes(v: unknown): CniRoute[] {
  if (!Array.isArray(v)) return [];
  return v.filter((r): r is Obj => isObj(r) && typeof r['dst'] === 'string').map((r) => {
    const { dst, gw, ...rest } = r;
    return { ...rest, dst: dst as string, ...(str(gw) ? { gw: gw as string } : {}) };
  });
}

function parseDns(v: unknown): CniDns {
  if (!isObj(v)) return {};
  const dns: CniDns = {};
  const nameservers = strings(v['nameservers']);
  const search = strings(v['search']);
  const options = strings(v['options']);
  if (nameservers) dns.nameservers = nameservers;
  if (str(v['domain'])) dns.domain = v['domain'] as string;
  if (search) dns.search = search;
  if (options) dns.options = options;
  return dns;
}

function parseIp(v: unknown, nInterfaces: number, i: number): CniIpConfig {
  if (!isObj(v) || typeof v['address'] !== 'string' || !validCidr(v['address'])) {
    throw new CniResultError(`ips[${i}]: "address" must be a CIDR, got ${JSON.stringify(isObj(v) ? v['address'] : v)}`);
  }
  const ip: CniIpConfig = { address: v['address'] };
  if (str(v['gateway'])) ip.gateway = v['gateway'] as string;
  const idx = v['interface'];
  // An index that points nowhere is ignored rather than fatal: the address is still usable.
  if (typeof idx === 'number' && Number.isInteger(idx) && idx >= 0 && idx < nInterfaces) ip.interface = idx;
  return ip;
}

/** Normalizes a plugin's ADD result (any spec version); throws CniResultError if it is unusable. */
export function parseCniResult(raw: unknown): CniResult {
  if (!isObj(raw)) throw new CniResultError('CNI result is not a JSON object');
  const cniVersion = str(raw['cniVersion']) ?? '0.1.0';
  const dns = parseDns(raw['dns']);

  if (compareCniVersions(cniVersion, '0.3.0') < 0) {
    const ips: CniIpConfig[] = [];
    const routes: CniRoute[] = [];
    for (const key of ['ip4', 'ip6']) {
      const v = raw[key];
      if (v === undefined || v === null) continue;
      if (!isObj(v) || typeof v['ip'] !== 'string' || !validCidr(v['ip'])) {
        throw new CniResultError(`${key}: "ip" must be a CIDR`);
      }
      ips.push({ address: v['ip'], ...(str(v['gateway']) ? { gateway: v['gateway'] as string } : {}) });
      routes.push(...parseRoutes(v['routes']));
    }
    return { cniVersion, interfaces: [], ips, routes, dns };
  }

  const interfaces: CniInterface[] = [];
  if (raw['interfaces'] !== undefined && !Array.isArray(raw['interfaces'])) throw new CniResultError('"interfaces" must be a list');
  for (const [i, v] of ((raw['interfaces'] as unknown[] | undefined) ?? []).entries()) {
    if (!isObj(v) || typeof v['name'] !== 'string') throw new CniResultError(`interfaces[${i}] has no "name"`);
    const itf: CniInterface = { name: v['name'] };
    if (str(v['mac'])) itf.mac = v['mac'] as string;
    if (typeof v['mtu'] === 'number') itf.mtu = v['mtu'];
    if (str(v['sandbox'])) itf.sandbox = v['sandbox'] as string;
    if (str(v['socketPath'])) itf.socketPath = v['socketPath'] as string;
    if (str(v['pciID'])) itf.pciID = v['pciID'] as string;
    interfaces.push(itf);
  }
  if (raw['ips'] !== undefined && !Array.isArray(raw['ips'])) throw new CniResultError('"ips" must be a list');
  const ips = ((raw['ips'] as unknown[] | undefined) ?? []).map((v, i) => parseIp(v, interfaces.length, i));
  return { cniVersion, interfaces, ips, routes: parseRoutes(raw['routes']), dns };
}

/**
 * The pod's IPs without prefix, IPv4 first then IPv6 (kubelet takes the first as the primary),
 * each once. Only the addresses of interfaces inside the sandbox (named `ifName`, if given) count;
 * if no address is tied to such an interface (older plugins, 0.2.0 results), all of them do.
 */
export function podIPs(result: CniResult, ifName?: string): string[] {
  const inPod = result.ips.filter((ip) => {
    if (ip.interface === undefined) return false;
    const itf = result.interfaces[ip.interface];
    return itf !== undefined && itf.sandbox !== undefined && (ifName === undefined || itf.name === ifName);
  });
  const chosen = inPod.length > 0 ? inPod : result.ips;
  const addrs = [...new Set(chosen.map((ip) => ip.address.slice(0, ip.address.indexOf('/'))))];
  // Array.prototype.sort is stable: the plugin's order is kept within a family.
  return addrs.sort((a, b) => net.isIP(a) - net.isIP(b));
}
