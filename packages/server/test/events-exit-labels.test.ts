import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  EXIT_UPDATE_MASK,
  STARTED_UPDATE_MASK,
  criExitCode,
  decodeExitLabels,
  decodeStartedLabel,
  encodeExitLabels,
  encodeStartedLabel,
  exitReason,
} from '../src/events/exit-labels';
import { cgroupDir, expandSlice, parseOomKill, readOomKillCount } from '../src/events/oom-cgroup';
import { EXIT_AT_LABEL, EXIT_CODE_LABEL, EXIT_REASON_LABEL, STARTED_AT_LABEL } from '../src/store/labels';
import { tempDir } from './temp-dir';

describe('exit reason', () => {
  it.each([
    [0, false, 'Completed'],
    [1, false, 'Error'],
    [3, false, 'Error'],
    [137, false, 'Error'],
    [255, false, 'Error'],
    [137, true, 'OOMKilled'],
    [0, true, 'OOMKilled'], // a child was OOM-killed: containerd's CRI says OOMKilled too
  ])('exit %d, oom %s → %s', (code, oom, reason) => {
    expect(exitReason(code, oom)).toBe(reason);
  });
});

describe('exit labels', () => {
  it('encodes as decimal strings under crisp names', () => {
    expect(encodeExitLabels({ exitCode: 3, exitedAt: 1_700_000_000_123_456_789n, reason: 'Error' })).toEqual({
      'io.crisp.exit.code': '3',
      'io.crisp.exit.at': '1700000000123456789',
      'io.crisp.exit.reason': 'Error',
    });
  });

  it('round-trips, keeping nanosecond precision beyond 2^53', () => {
    for (const exit of [
      { exitCode: 0, exitedAt: 1_796_317_773_498_905_426n, reason: 'Completed' as const },
      { exitCode: 137, exitedAt: 9_007_199_254_740_993n, reason: 'OOMKilled' as const },
      { exitCode: 255, exitedAt: 0n, reason: 'Unknown' as const },
      { exitCode: 4294967295, exitedAt: 1n, reason: 'Error' as const },
    ]) {
      expect(decodeExitLabels({ other: 'x', ...encodeExitLabels(exit) })).toEqual(exit);
    }
  });

  it('reads no exit from missing, partial or garbled labels', () => {
    const good = encodeExitLabels({ exitCode: 1, exitedAt: 5n, reason: 'Error' });
    expect(decodeExitLabels(undefined)).toBeUndefined();
    expect(decodeExitLabels({})).toBeUndefined();
    for (const key of [EXIT_CODE_LABEL, EXIT_AT_LABEL, EXIT_REASON_LABEL]) {
      const partial = { ...good };
      delete partial[key];
      expect(decodeExitLabels(partial)).toBeUndefined();
    }
    expect(decodeExitLabels({ ...good, [EXIT_CODE_LABEL]: 'x' })).toBeUndefined();
    expect(decodeExitLabels({ ...good, [EXIT_CODE_LABEL]: '1.5' })).toBeUndefined();
    expect(decodeExitLabels({ ...good, [EXIT_CODE_LABEL]: '99999999999' })).toBeUndefined();
    expect(decodeExitLabels({ ...good, [EXIT_AT_LABEL]: '-1' })).toBeUndefined();
    expect(decodeExitLabels({ ...good, [EXIT_AT_LABEL]: '2024-01-01' })).toBeUndefined();
    expect(decodeExitLabels({ ...good, [EXIT_REASON_LABEL]: 'Crashed' })).toBeUndefined();
  });

  it('masks exactly the exit labels for Containers.Update', () => {
    expect([...EXIT_UPDATE_MASK]).toEqual(['labels.io.crisp.exit.code', 'labels.io.crisp.exit.at', 'labels.io.crisp.exit.reason']);
    expect([...STARTED_UPDATE_MASK]).toEqual([`labels.${STARTED_AT_LABEL}`]);
  });

  it('start time round-trips; garbage reads as none', () => {
    expect(decodeStartedLabel(encodeStartedLabel(1_796_317_773_498_905_426n))).toBe(1_796_317_773_498_905_426n);
    expect(decodeStartedLabel({})).toBeUndefined();
    expect(decodeStartedLabel({ [STARTED_AT_LABEL]: 'soon' })).toBeUndefined();
  });

  it('maps a uint32 exit status to CRI int32 as Go does', () => {
    expect(criExitCode(137)).toBe(137);
    expect(criExitCode(4294967295)).toBe(-1);
  });
});

describe('OOM counter of a cgroup', () => {
  it('resolves cgroupfs and systemd cgroupsPaths', () => {
    expect(cgroupDir('/k8s.io/abc')).toBe('/k8s.io/abc');
    expect(cgroupDir('/kubepods/burstable/pod1/abc')).toBe('/kubepods/burstable/pod1/abc');
    expect(cgroupDir('kubepods-burstable-pod1.slice:crisp:abc')).toBe(
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/crisp-abc.scope',
    );
    expect(cgroupDir(':crisp:abc')).toBe('/system.slice/crisp-abc.scope');
    expect(cgroupDir('-.slice:crisp:abc')).toBe('/crisp-abc.scope');
    expect(cgroupDir('relative/path')).toBeUndefined();
    expect(cgroupDir('/a/../../etc')).toBeUndefined();
    expect(cgroupDir(undefined)).toBeUndefined();
    expect(expandSlice('a--b.slice')).toBeUndefined();
  });

  it('parses the oom_kill line of memory.oom_control (v1) and memory.events (v2)', () => {
    expect(parseOomKill('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')).toBe(2);
    expect(parseOomKill('low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n')).toBe(1);
    expect(parseOomKill('oom_kill_disable 0\nunder_oom 0\n')).toBeUndefined();
  });

  it('reads the v1 counter under <root>/memory, and undefined when the cgroup is gone', async () => {
    const root = tempDir('crisp-cg-');
    mkdirSync(path.join(root, 'memory', 'k8s.io', 'abc'), { recursive: true });
    writeFileSync(path.join(root, 'memory', 'k8s.io', 'abc', 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n');
    expect(await readOomKillCount('/k8s.io/abc', root)).toBe(1);
    expect(await readOomKillCount('/k8s.io/gone', root)).toBeUndefined();
  });

  it('reads the v2 counter from memory.events on a unified hierarchy', async () => {
    const root = tempDir('crisp-cg2-');
    writeFileSync(path.join(root, 'cgroup.controllers'), 'cpu memory\n');
    mkdirSync(path.join(root, 'k8s.io', 'abc'), { recursive: true });
    writeFileSync(path.join(root, 'k8s.io', 'abc', 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    expect(await readOomKillCount('/k8s.io/abc', root)).toBe(1);
  });
});
