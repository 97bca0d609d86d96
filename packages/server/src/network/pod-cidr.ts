// kubelet tells the runtime the node's pod CIDR (UpdateRuntimeConfig). Like the peers, crisp renders a
// configured conflist template with it into the CNI conf dir; without a template there is nothing to do.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { invalidArgument } from '../errors';

/** The file crisp writes; the name sorts early so that it is the network used. */
export const RENDERED_CONFLIST = '10-crisp-net.conflist';

const CIDR = /^(?:\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

export function parsePodCidrs(podCidr: string): string[] {
  const cidrs = podCidr.split(',').map((c) => c.trim()).filter((c) => c !== '');
  for (const c of cidrs) if (!CIDR.test(c)) throw invalidArgument(`invalid pod CIDR "${c}"`);
  return cidrs;
}

/**
 * Replaces `{{.PodCIDR}}` (the first CIDR) and `{{.PodCIDRRanges}}` (all of them, as a JSON list of
 * host-local range sets) in the template.
 */
export function renderConfTemplate(template: string, cidrs: string[]): string {
  const ranges = JSON.stringify(cidrs.map((subnet) => [{ subnet }]));
  return template.replaceAll('{{.PodCIDR}}', cidrs[0] ?? '').replaceAll('{{.PodCIDRRanges}}', ranges);
}

/** Writes the rendered config atomically; returns its path, or undefined when there is no template. */
export async function applyPodCidr(podCidr: string, templatePath: string, confDir: string): Promise<string | undefined> {
  const cidrs = parsePodCidrs(podCidr);
  if (cidrs.length === 0 || templatePath === '') return undefined;
  const rendered = renderConfTemplate(await fs.readFile(templatePath, 'utf8'), cidrs);
  try {
    JSON.parse(rendered);
  } catch (err) {
    throw invalidArgument(`CNI template ${templatePath} does not render to JSON: ${(err as Error).message}`);
  }
  await fs.mkdir(confDir, { recursive: true });
  const target = path.join(confDir, RENDERED_CONFLIST);
  const tmp = `${target}.tmp-${process.pid}`;
  await fs.writeFile(tmp, rendered, { mode: 0o644 });
  await fs.rename(tmp, target);
  return target;
}
