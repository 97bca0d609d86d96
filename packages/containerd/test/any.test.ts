import { cgroup1, runcOptions, taskEvents } from '@crisp/api';
import {
  AnyTypeError,
  OCI_SPEC_TYPE_URL,
  packJson,
  packMessage,
  packSpec,
  typeNameOf,
  unpackJson,
  unpackMessage,
  unpackSpec,
} from '../src';

describe('Any helpers', () => {
  it('packs the OCI spec as JSON under containerd’s type URL and back', () => {
    const spec = { ociVersion: '1.0.2', process: { args: ['sh', '-c', 'echo ü'], env: ['A=1'] }, linux: { resources: {} } };
    const any = packSpec(spec);
    expect(any.typeUrl).toBe('types.containerd.io/opencontainers/runtime-spec/1/Spec');
    expect(any.typeUrl).toBe(OCI_SPEC_TYPE_URL);
    expect(JSON.parse(Buffer.from(any.value).toString('utf8'))).toEqual(spec);
    expect(unpackSpec(any)).toEqual(spec);
  });

  it('refuses to unpack a spec of another type', () => {
    const any = packJson('other/type', { a: 1 });
    expect(() => unpackSpec(any)).toThrow(AnyTypeError);
    expect(unpackJson(any)).toEqual({ a: 1 });
    expect(unpackJson<{ a: number }>(any, 'other/type').a).toBe(1);
  });

  it('packs and unpacks protobuf messages, ignoring the type URL prefix', () => {
    const exit: taskEvents.TaskExit = { containerId: 'c', id: 'c', pid: 42, exitStatus: 137, exitedAt: { seconds: 5n, nanos: 6 } };
    const any = packMessage('containerd.events.TaskExit', taskEvents.TaskExit, exit);
    expect(unpackMessage(any, 'containerd.events.TaskExit', taskEvents.TaskExit)).toEqual(exit);
    expect(unpackMessage({ ...any, typeUrl: 'type.googleapis.com/containerd.events.TaskExit' }, 'containerd.events.TaskExit', taskEvents.TaskExit)).toEqual(exit);
    expect(() => unpackMessage(any, 'containerd.events.TaskOOM', taskEvents.TaskOOM)).toThrow(AnyTypeError);

    const opts = runcOptions.Options.fromPartial({ systemdCgroup: true, binaryName: 'runc' });
    const packed = packMessage('containerd.runc.v1.Options', runcOptions.Options, opts);
    expect(unpackMessage(packed, 'containerd.runc.v1.Options', runcOptions.Options)).toEqual(opts);

    const metrics = cgroup1.Metrics.fromPartial({ memory: { usage: { usage: 1234n } } });
    const m = packMessage('io.containerd.cgroups.v1.Metrics', cgroup1.Metrics, metrics);
    expect(unpackMessage(m, 'io.containerd.cgroups.v1.Metrics', cgroup1.Metrics).memory?.usage?.usage).toBe(1234n);
  });

  it('extracts the message name from a type URL', () => {
    expect(typeNameOf('containerd.events.TaskExit')).toBe('containerd.events.TaskExit');
    expect(typeNameOf('type.googleapis.com/google.protobuf.Empty')).toBe('google.protobuf.Empty');
    expect(typeNameOf(OCI_SPEC_TYPE_URL)).toBe('Spec');
  });
});
