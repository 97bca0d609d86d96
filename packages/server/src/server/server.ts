// Builds the gRPC server: CRI RuntimeService and ImageService, and gRPC health, behind one middleware.
import { cri, health } from '@crisp/api';
import { createServer, Server } from 'nice-grpc';
import type { CrispContext } from '../context';
import { pullImage } from '../rpc/pull-image';
import { runtimeConfig } from '../rpc/runtime-config';
import { status } from '../rpc/status';
import { version } from '../rpc/version';
import { HealthState, healthService } from './health';
import { rpcMiddleware, RpcObserver } from './rpc-middleware';
import { withUnimplemented } from './unimplemented';

export interface CrispServer {
  server: Server;
  health: HealthState;
}

/** gRPC limits: CRI list responses for big nodes are large (the peers allow 16 MiB). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export function runtimeService(ctx: CrispContext): cri.RuntimeServiceImplementation {
  return withUnimplemented<cri.RuntimeServiceImplementation>(cri.RuntimeServiceDefinition, {
    version: (req) => version(ctx, req),
    status: (req) => status(ctx, req),
    runtimeConfig: (req) => runtimeConfig(ctx, req),
  });
}

export function imageService(ctx: CrispContext): cri.ImageServiceImplementation {
  return withUnimplemented<cri.ImageServiceImplementation>(cri.ImageServiceDefinition, {
    pullImage: (req, call) => pullImage(ctx, req, call),
  });
}

export function createCrispServer(ctx: CrispContext, observer?: RpcObserver): CrispServer {
  const state = new HealthState([cri.RuntimeServiceDefinition.fullName, cri.ImageServiceDefinition.fullName]);
  const server = createServer({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  }).use(rpcMiddleware(ctx.logger, observer));
  server.add(cri.RuntimeServiceDefinition, runtimeService(ctx));
  server.add(cri.ImageServiceDefinition, imageService(ctx));
  server.add(health.HealthDefinition, healthService(state));
  return { server, health: state };
}
