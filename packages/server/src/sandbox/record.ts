// What crisp knows of a sandbox, and how it is kept in containerd so that a restarted crisp finds it
// again: the CRI config protobuf-encoded in one container extension, crisp's own facts as JSON in another.
import { Any, cri } from '@crisp/api';
import { packJson, packMessage, unpackJson, unpackMessage } from '@crisp/containerd';
import { SANDBOX_EXTENSION, SANDBOX_EXTENSION_TYPE } from '../store/labels';

export const SANDBOX_CONFIG_EXTENSION = 'io.crisp.sandbox.config';
const CONFIG_TYPE = 'runtime.v1.PodSandboxConfig';

export interface SandboxFacts {
  /** Hash of the RunPodSandbox request: tells a kubelet retry from a conflicting request. */
  configHash: string;
  runtimeHandler: string;
  /** containerd runtime (io.containerd.runc.v2 ...) the handler maps to. */
  runtime: string;
  /** Pinned network namespace; absent for host-network pods. */
  netnsPath?: string;
  /** Pod IPs from CNI, primary first. */
  ips: string[];
  /** The pod's shared /dev/shm (a tmpfs crisp mounted); absent with host IPC. */
  devShmPath?: string;
  /** CNI network that set the pod up, so teardown uses the same one. */
  cniNetwork?: string;
  /** Nanoseconds since the epoch, as a decimal string (JSON has no 64-bit integers). */
  createdAt: string;
  image: string;
}

export interface SandboxRecord extends SandboxFacts {
  id: string;
  config: cri.PodSandboxConfig;
}

export function sandboxExtensions(config: cri.PodSandboxConfig, facts: SandboxFacts): Record<string, Any> {
  // Only the facts go in the JSON: the config (which has 64-bit fields) travels as protobuf.
  const { id: _id, config: _config, ...plain } = facts as SandboxFacts & Partial<SandboxRecord>;
  return {
    [SANDBOX_CONFIG_EXTENSION]: packMessage(CONFIG_TYPE, cri.PodSandboxConfig, config),
    [SANDBOX_EXTENSION]: packJson(SANDBOX_EXTENSION_TYPE, plain),
  };
}

/** Reads a sandbox back from its containerd container; undefined when it is not a readable crisp sandbox. */
export function recordFromExtensions(id: string, extensions: Record<string, Any>): SandboxRecord | undefined {
  const cfg = extensions[SANDBOX_CONFIG_EXTENSION];
  const facts = extensions[SANDBOX_EXTENSION];
  if (!cfg || !facts) return undefined;
  return { id, config: unpackMessage(cfg, CONFIG_TYPE, cri.PodSandboxConfig), ...unpackJson<SandboxFacts>(facts, SANDBOX_EXTENSION_TYPE) };
}

export function hostNetwork(config: cri.PodSandboxConfig): boolean {
  return config.linux?.securityContext?.namespaceOptions?.network === cri.NamespaceMode.NODE;
}
