// What crisp keeps of a container in containerd: the CRI config (protobuf) and crisp's facts (JSON) as
// extensions, fixed at creation; what changes later (start time, exit) lives in labels.
import { Any, cri } from '@crisp/api';
import { packJson, packMessage, unpackJson, unpackMessage } from '@crisp/containerd';
import { CONTAINER_CONFIG_EXTENSION, CONTAINER_EXTENSION, CONTAINER_EXTENSION_TYPE } from '../store/labels';

const CONFIG_TYPE = 'runtime.v1.ContainerConfig';

export interface ContainerFacts {
  sandboxId: string;
  configHash: string;
  /** The image as the request named it, and what it resolved to. */
  image: string;
  imageId: string;
  /** A digest reference of the image (repo@sha256:…), or the image ID when it has none. */
  imageRef: string;
  /** Full path of the CRI log file ('' when kubelet asked for none). */
  logPath: string;
  createdAt: string;
  /** The user the process runs as. */
  uid: number;
  gid: number;
  additionalGids: number[];
  stopSignal: number;
  /** Host directories crisp made for image VOLUMEs, removed with the container. */
  volumeDirs: string[];
}

export interface ContainerRecord extends ContainerFacts {
  id: string;
  config: cri.ContainerConfig;
}

export function containerExtensions(config: cri.ContainerConfig, facts: ContainerFacts): Record<string, Any> {
  // Only the facts go in the JSON: the config (which has 64-bit fields) travels as protobuf.
  const { id: _id, config: _config, ...plain } = facts as ContainerFacts & Partial<ContainerRecord>;
  return {
    [CONTAINER_CONFIG_EXTENSION]: packMessage(CONFIG_TYPE, cri.ContainerConfig, config),
    [CONTAINER_EXTENSION]: packJson(CONTAINER_EXTENSION_TYPE, plain),
  };
}

export function containerFromExtensions(id: string, extensions: Record<string, Any>): ContainerRecord | undefined {
  const cfg = extensions[CONTAINER_CONFIG_EXTENSION];
  const facts = extensions[CONTAINER_EXTENSION];
  if (!cfg || !facts) return undefined;
  return { id, config: unpackMessage(cfg, CONFIG_TYPE, cri.ContainerConfig), ...unpackJson<ContainerFacts>(facts, CONTAINER_EXTENSION_TYPE) };
}
