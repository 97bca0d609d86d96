// The files a pod shares with its containers, kept in the sandbox's state dir: hostname, hosts and
// resolv.conf (from the pod's DNSConfig, or the node's own when it gives none).
import type { cri } from '@crisp/api';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../errors';

export const NODE_RESOLV_CONF = '/etc/resolv.conf';
export const NODE_HOSTS = '/etc/hosts';

export function sandboxDir(stateDir: string, id: string): string {
  return path.join(stateDir, 'sandboxes', id);
}

export interface SandboxFiles {
  dir: string;
  hostname: string;
  hosts: string;
  resolvConf: string;
}

export function sandboxFilePaths(stateDir: string, id: string): SandboxFiles {
  const dir = sandboxDir(stateDir, id);
  return { dir, hostname: path.join(dir, 'hostname'), hosts: path.join(dir, 'hosts'), resolvConf: path.join(dir, 'resolv.conf') };
}

/** resolv.conf for a pod's DNSConfig (kubelet has already merged cluster DNS and the pod's dnsConfig). */
export function resolvConfFor(dns: cri.DNSConfig): string {
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export const DEFAULT_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
  '',
].join('\n');

export function validateHostname(hostname: string): void {
  if (hostname.length > 253 || /[\s/\0]/.test(hostname)) throw invalidArgument(`invalid hostname "${hostname}"`);
}

/** Writes the pod's files; `hostNetwork` pods see the node's own hosts and name. */
export async function writeSandboxFiles(
  stateDir: string,
  id: string,
  config: cri.PodSandboxConfig,
  hostNetwork: boolean,
  nodeHostname: string,
): Promise<SandboxFiles> {
  const files = sandboxFilePaths(stateDir, id);
  await fs.mkdir(files.dir, { recursive: true, mode: 0o711 });
  const hostname = hostNetwork ? nodeHostname : config.hostname || nodeHostname;
  validateHostname(hostname);
  const dns = config.dnsConfig;
  const resolv =
    dns && (dns.servers.length > 0 || dns.searches.length > 0 || dns.options.length > 0)
      ? resolvConfFor(dns)
      : await fs.readFile(NODE_RESOLV_CONF, 'utf8').catch(() => '');
  const hosts = hostNetwork ? await fs.readFile(NODE_HOSTS, 'utf8').catch(() => DEFAULT_HOSTS) : DEFAULT_HOSTS;
  await Promise.all([
    fs.writeFile(files.hostname, `${hostname}\n`, { mode: 0o644 }),
    fs.writeFile(files.hosts, hosts, { mode: 0o644 }),
    fs.writeFile(files.resolvConf, resolv, { mode: 0o644 }),
  ]);
  return files;
}

export async function removeSandboxDir(stateDir: string, id: string): Promise<void> {
  await fs.rm(sandboxDir(stateDir, id), { recursive: true, force: true });
}
