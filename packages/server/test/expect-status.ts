// Shared by the unit tests: run `fn`, expect a CrispError with `code`, return its message.
import { CrispError, Status } from '../src/errors';

export function failsWith(code: Status, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CrispError);
    expect((err as CrispError).code).toBe(code);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

/** The message of the INVALID_ARGUMENT that `fn` throws. */
export const invalid = (fn: () => unknown): string => failsWith(Status.INVALID_ARGUMENT, fn);
