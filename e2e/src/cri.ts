// Small builders for CRI requests and checks that the integration tests share.
import { cri } from '@crisp/api';
import { ClientError } from 'nice-grpc';

export function podConfig(name: string, extra: Partial<cri.PodSandboxConfig> = {}): cri.PodSandboxConfig {
  return cri.PodSandboxConfig.fromPartial({
    metadata: { name, namespace: 'e2e', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    labels: { app: name },
    linux: { securityContext: { namespaceOptions: { network: cri.NamespaceMode.POD, pid: cri.NamespaceMode.CONTAINER, ipc: cri.NamespaceMode.POD } } },
    ...extra,
  });
}

export function containerConfig(name: string, image: string, command: string[], extra: Partial<cri.ContainerConfig> = {}): cri.ContainerConfig {
  return cri.ContainerConfig.fromPartial({
    metadata: { name, attempt: 0 },
    image: { image },
    command,
    logPath: `${name}.log`,
    labels: { container: name },
    ...extra,
  });
}

/** The gRPC error a call failed with (fails the test if it succeeded). */
export async function grpcError(p: Promise<unknown>): Promise<ClientError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw new Error(`expected a gRPC error, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}

/** Polls `check` until it returns a value other than undefined/false. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
