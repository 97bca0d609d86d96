// Chain IDs name the snapshot of a layer stack: chainID(0) = diffID(0),
// chainID(n) = sha256(chainID(n-1) + " " + diffID(n)) (OCI image spec, "Layer ChainID").
import { createHash } from 'node:crypto';

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : `sha256:${createHash('sha256').update(`${prev} ${diffId}`).digest('hex')}`);
  }
  return out;
}

export function chainId(diffIds: readonly string[]): string | undefined {
  return chainIds(diffIds).at(-1);
}
