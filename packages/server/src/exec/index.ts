// Exec into running containers: ExecSync now, the streaming Exec on the same execInContainer.
export * from './capped';
export * from './exec';
export * from './process-spec';
