export * from './config/schema';
export * from './config/load';
export * from './errors';
export { startCrisp } from './app';
export type { RunningCrisp } from './app';
export { createCrispServer } from './server/server';
export { createLogger } from './log';
export type { Logger } from './log';
export * from './network';
export { crispVersion } from './version';
export * from './devmode';
export * from './logs';
// The streaming server's SPDY/3.1 framing, for clients (e2e tests, tools).
export * as spdy from './streaming/spdy';
export { SpdyConnection, SpdyStream, createSpdyClientConnection } from './streaming/spdy';
export type { SpdyConnectionOptions } from './streaming/spdy';
export type { PortForwardHandler, PortForwardTarget } from './streaming/types';
