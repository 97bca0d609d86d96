import { DEFAULT_EXEC_TERM, execProcessSpec } from '../src/exec/process-spec';
import type { Process } from '../src/oci/types';

const containerProcess = (): Process => ({
  terminal: false,
  user: { uid: 1000, gid: 1000, additionalGids: [2000], umask: 0o22 },
  args: ['sleep', '3600'],
  env: ['PATH=/usr/bin:/bin', 'GREETING=hello'],
  cwd: '/work',
  capabilities: { bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN'] },
  rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
  noNewPrivileges: true,
  apparmorProfile: 'crisp-default',
  oomScoreAdj: 500,
  selinuxLabel: 'system_u:system_r:container_t:s0',
});

describe('execProcessSpec', () => {
  it('keeps the container user, env, cwd and security settings and replaces only the args', () => {
    const p = execProcessSpec(containerProcess(), ['echo', 'hi'], false);
    const { args, ...rest } = p;
    const { args: _orig, ...expected } = containerProcess();
    expect(args).toEqual(['echo', 'hi']);
    expect(rest).toEqual(expected);
  });

  it('is never a terminal without tty, and drops a console size', () => {
    const cp = { ...containerProcess(), terminal: true, consoleSize: { height: 24, width: 80 } };
    const p = execProcessSpec(cp, ['ls'], false);
    expect(p.terminal).toBe(false);
    expect(p.consoleSize).toBeUndefined();
    expect(p.env).not.toContain(DEFAULT_EXEC_TERM);
  });

  it('with tty: a terminal, and TERM=xterm unless the container sets TERM', () => {
    const p = execProcessSpec(containerProcess(), ['sh'], true);
    expect(p.terminal).toBe(true);
    expect(p.env).toEqual(['PATH=/usr/bin:/bin', 'GREETING=hello', 'TERM=xterm']);
    const own = execProcessSpec({ ...containerProcess(), env: ['TERM=vt100'] }, ['sh'], true);
    expect(own.env).toEqual(['TERM=vt100']);
    const none = execProcessSpec({ ...containerProcess(), env: undefined }, ['sh'], true);
    expect(none.env).toEqual(['TERM=xterm']);
  });

  it('does not modify the container spec nor share arrays with it', () => {
    const cp = containerProcess();
    const cmd = ['echo', 'x'];
    const p = execProcessSpec(cp, cmd, true);
    expect(cp).toEqual(containerProcess());
    p.env!.push('X=1');
    p.capabilities!.bounding!.push('CAP_SYS_ADMIN');
    p.user.additionalGids!.push(1);
    cmd.push('y');
    expect(cp).toEqual(containerProcess());
    expect(p.args).toEqual(['echo', 'x']);
  });

  it('drops a Windows commandLine so that args are what runs', () => {
    const p = execProcessSpec({ ...containerProcess(), commandLine: 'cmd /c dir' }, ['ls'], false);
    expect(p.commandLine).toBeUndefined();
  });

  it('serialises as the JSON runc reads for a process', () => {
    const json = JSON.parse(JSON.stringify(execProcessSpec(containerProcess(), ['id', '-u'], false))) as Record<string, unknown>;
    expect(json).toMatchObject({ args: ['id', '-u'], terminal: false, cwd: '/work', user: { uid: 1000, gid: 1000 }, noNewPrivileges: true });
  });
});
