// CRI Exec: validates the request and returns a single-use URL on the streaming server, where the
// client's upgraded connection runs the command (streaming/sessions.ts).
import type { cri } from '@crisp/api';
import { runningContainerId } from '../container/attach';
import type { CrispContext } from '../context';
import { invalidArgument } from '../errors';

/** The stdio checks kubelet and the peers make on Exec and Attach requests. */
export function checkStdio(rpc: string, req: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): void {
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument(`${rpc}: one of stdin, stdout or stderr must be set`);
  if (req.tty && req.stderr) throw invalidArgument(`${rpc}: tty and stderr cannot both be set (a terminal has one output stream)`);
}

export async function exec(ctx: CrispContext, req: cri.ExecRequest): Promise<cri.ExecResponse> {
  if (req.cmd.length === 0) throw invalidArgument('Exec: cmd must not be empty');
  checkStdio('Exec', req);
  const containerId = await runningContainerId(ctx, req.containerId);
  return { url: ctx.streaming.url({ kind: 'exec', request: { ...req, containerId } }) };
}
