import { ClientError, Status } from 'nice-grpc-common';
import {
  ContainerdError,
  codeForStatus,
  errorMiddleware,
  isAbortError,
  isAlreadyExists,
  isContainerdError,
  isNotFound,
  isUnavailable,
} from '../src';
import type { ContainerdErrorCode } from '../src';
import { abortError } from '../src/backoff';

describe('ContainerdError', () => {
  it('keeps method, gRPC status, containerd message and cause', () => {
    const cause = new ClientError('/containerd.services.containers.v1.Containers/Get', Status.NOT_FOUND, 'container "x" in namespace "k8s.io": not found');
    const err = ContainerdError.fromClientError(cause);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ContainerdError');
    expect(err.code).toBe('not-found');
    expect(err.status).toBe(Status.NOT_FOUND);
    expect(err.details).toBe('container "x" in namespace "k8s.io": not found');
    expect(err.method).toBe('/containerd.services.containers.v1.Containers/Get');
    expect(err.cause).toBe(cause);
    expect(err.message).toContain('NOT_FOUND');
    expect(err.message).toContain('Containers/Get');
  });

  it.each<[Status, ContainerdErrorCode]>([
    [Status.CANCELLED, 'cancelled'],
    [Status.UNKNOWN, 'unknown'],
    [Status.INVALID_ARGUMENT, 'invalid-argument'],
    [Status.DEADLINE_EXCEEDED, 'deadline-exceeded'],
    [Status.NOT_FOUND, 'not-found'],
    [Status.ALREADY_EXISTS, 'already-exists'],
    [Status.PERMISSION_DENIED, 'permission-denied'],
    [Status.RESOURCE_EXHAUSTED, 'resource-exhausted'],
    [Status.FAILED_PRECONDITION, 'failed-precondition'],
    [Status.ABORTED, 'aborted'],
    [Status.OUT_OF_RANGE, 'failed-precondition'],
    [Status.UNIMPLEMENTED, 'unimplemented'],
    [Status.INTERNAL, 'internal'],
    [Status.UNAVAILABLE, 'unavailable'],
    [Status.DATA_LOSS, 'internal'],
    [Status.UNAUTHENTICATED, 'permission-denied'],
  ])('maps status %s to %s', (status, code) => {
    expect(codeForStatus(status)).toBe(code);
    expect(new ContainerdError('/m', status, 'd').code).toBe(code);
  });

  it('maps an unknown numeric status to unknown', () => {
    expect(new ContainerdError('/m', 99 as Status, 'd').code).toBe('unknown');
  });

  it('has predicate helpers that reject other errors', () => {
    const nf = new ContainerdError('/m', Status.NOT_FOUND, 'd');
    const ae = new ContainerdError('/m', Status.ALREADY_EXISTS, 'd');
    const un = new ContainerdError('/m', Status.UNAVAILABLE, 'd');
    expect([isNotFound(nf), isNotFound(ae), isNotFound(new Error('not found'))]).toEqual([true, false, false]);
    expect([isAlreadyExists(ae), isAlreadyExists(nf), isAlreadyExists(undefined)]).toEqual([true, false, false]);
    expect([isUnavailable(un), isUnavailable(nf), isUnavailable(null)]).toEqual([true, false, false]);
    expect(isContainerdError(un)).toBe(true);
    expect(isContainerdError(un, 'unavailable')).toBe(true);
    expect(isContainerdError(un, 'internal')).toBe(false);
  });

  it('recognises abort errors by name', () => {
    expect(isAbortError(abortError())).toBe(true);
    const dom = new DOMException('aborted', 'AbortError');
    expect(isAbortError(dom)).toBe(true);
    expect(isAbortError(new Error('x'))).toBe(false);
    expect(isAbortError('AbortError')).toBe(false);
  });
});

describe('errorMiddleware', () => {
  const method = { path: '/containerd.services.tasks.v1.Tasks/Start', requestStream: false, responseStream: false, options: {} };

  async function run(thrown: unknown): Promise<unknown> {
    const call = {
      method,
      requestStream: false as const,
      request: {},
      responseStream: false as const,
      // eslint-disable-next-line require-yield
      next: async function* next(): AsyncGenerator<never, unknown, undefined> {
        throw thrown;
      },
    };
    const gen = errorMiddleware(call, {});
    return gen.next().then(
      () => undefined,
      (e: unknown) => e,
    );
  }

  it('converts ClientError', async () => {
    const err = await run(new ClientError(method.path, Status.FAILED_PRECONDITION, 'task must be created'));
    expect(err).toBeInstanceOf(ContainerdError);
    expect(err).toMatchObject({ code: 'failed-precondition', method: method.path, details: 'task must be created' });
  });

  it('lets AbortError and other errors through unchanged', async () => {
    const abort = abortError();
    expect(await run(abort)).toBe(abort);
    const other = new TypeError('bug');
    expect(await run(other)).toBe(other);
  });
});
