// RPCs that crisp does not serve yet answer UNIMPLEMENTED with a message naming them: kubelet falls back
// on that code (for example from CRI stats to cAdvisor), and it must never be a fake success.
import { unimplemented } from '../errors';

interface MethodDefinitionLike {
  name: string;
  responseStream: boolean;
}

interface ServiceDefinitionLike {
  name: string;
  fullName: string;
  methods: Record<string, MethodDefinitionLike>;
}

/**
 * Completes a partial implementation: every method of `definition` missing from `implemented`
 * gets a handler that throws UNIMPLEMENTED.
 */
export function withUnimplemented<Impl extends object>(
  definition: ServiceDefinitionLike,
  implemented: Partial<Impl>,
): Impl {
  const out: Record<string, unknown> = { ...implemented };
  for (const [key, method] of Object.entries(definition.methods)) {
    if (out[key] !== undefined) continue;
    const message = `${definition.fullName}/${method.name} is not implemented by crisp yet`;
    out[key] = method.responseStream
      ? // eslint-disable-next-line require-yield
        async function* () {
          throw unimplemented(message);
        }
      : async () => {
          throw unimplemented(message);
        };
  }
  return out as Impl;
}
