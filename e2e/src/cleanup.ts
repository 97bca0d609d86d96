// A per-process (per jest test file) stack of clean-up actions. Helpers register what they
// start; actions run last-in first-out, all of them, even when some fail; failures are reported
// together afterwards. Under jest, importing this module registers a file-level
// `afterAll(runCleanups)`, so tests need not; calling runCleanups() earlier is fine too.

export type CleanupAction = () => void | Promise<void>;

interface Entry {
  name: string;
  action: CleanupAction;
}

const stack: Entry[] = [];

/** Registers `action`; returns a function that unregisters it (e.g. after an explicit stop). */
export function onCleanup(name: string, action: CleanupAction): () => void {
  const entry: Entry = { name, action };
  stack.push(entry);
  return () => {
    const i = stack.indexOf(entry);
    if (i >= 0) stack.splice(i, 1);
  };
}

/** Runs (and forgets) every registered action, newest first. Throws one error listing failures. */
export async function runCleanups(): Promise<void> {
  const errors: string[] = [];
  while (stack.length > 0) {
    const entry = stack.pop()!;
    try {
      await entry.action();
    } catch (err) {
      errors.push(`${entry.name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (errors.length > 0) throw new Error(`clean-up failed:\n${errors.join('\n')}`);
}

/** How many actions are pending (for tests of the harness). */
export function pendingCleanups(): number {
  return stack.length;
}

// Under jest, run the clean-ups after the test file (import happens while the file is being
// collected, where a top-level hook is allowed). Outside jest `afterAll` does not exist.
declare const afterAll: ((fn: () => Promise<void>, timeout?: number) => void) | undefined;
if (typeof afterAll === 'function') {
  try {
    afterAll(runCleanups, 120_000);
  } catch {
    // imported from inside a test or hook: the caller runs runCleanups() itself
  }
}
