// Container stdio: the FIFOs the shim writes to, the CRI log format, and the log file writer.
export * from './cri-log';
export * from './fifo';
export * from './log-writer';
