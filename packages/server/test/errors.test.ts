import { ServerError, Status } from 'nice-grpc-common';
import { CrispError, notFound, statusOf, toServerError } from '../src/errors';

class FakeContainerdError extends Error {
  override name = 'ContainerdError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

describe('error mapping', () => {
  it('keeps the status of a CrispError', () => {
    const e = toServerError(notFound('container "abc" not found'));
    expect(e).toBeInstanceOf(ServerError);
    expect(e.code).toBe(Status.NOT_FOUND);
    expect(e.details).toBe('container "abc" not found');
  });

  it('passes ServerErrors through', () => {
    const se = new ServerError(Status.ABORTED, 'x');
    expect(toServerError(se)).toBe(se);
  });

  it.each([
    ['not-found', Status.NOT_FOUND],
    ['already-exists', Status.ALREADY_EXISTS],
    ['failed-precondition', Status.FAILED_PRECONDITION],
    ['unavailable', Status.UNAVAILABLE],
    ['deadline-exceeded', Status.DEADLINE_EXCEEDED],
    ['something-new', Status.INTERNAL],
  ])('maps containerd %s', (code, status) => {
    expect(statusOf(new FakeContainerdError(code, 'm'))).toBe(status);
  });

  it('maps known error classes by name and everything else to INTERNAL', () => {
    const abort = new Error('aborted');
    abort.name = 'AbortError';
    expect(statusOf(abort)).toBe(Status.CANCELLED);
    const ref = new Error('bad ref');
    ref.name = 'InvalidReferenceError';
    expect(statusOf(ref)).toBe(Status.INVALID_ARGUMENT);
    expect(statusOf(new TypeError('oops'))).toBe(Status.INTERNAL);
    expect(statusOf('a string')).toBe(Status.INTERNAL);
    expect(statusOf(new CrispError(Status.RESOURCE_EXHAUSTED, 'full'))).toBe(Status.RESOURCE_EXHAUSTED);
  });
});
