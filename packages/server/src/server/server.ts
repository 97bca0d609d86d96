// Builds the gRPC server (crisp's own, grpc-server/): CRI RuntimeService and ImageService, and gRPC health, behind one middleware.
import { cri, health } from '@crisp/api';
import { createGrpcServer, GrpcServer } from '../grpc-server/server';
import type { CrispContext } from '../context';
import { imageFsInfo } from '../rpc/image-fs-info';
import { imageStatus } from '../rpc/image-status';
import { listImages } from '../rpc/list-images';
import { containerStatus } from '../rpc/container-status';
import { createContainer } from '../rpc/create-container';
import { execSync } from '../rpc/exec-sync';
import { exec } from '../rpc/exec';
import { attach } from '../rpc/attach';
import { portForward } from '../rpc/port-forward';
import { listContainers } from '../rpc/list-containers';
import { removeContainer } from '../rpc/remove-container';
import { reopenContainerLog } from '../rpc/reopen-container-log';
import { startContainer } from '../rpc/start-container';
import { stopContainer } from '../rpc/stop-container';
import { streamContainers } from '../rpc/stream-containers';
import { updateContainerResources } from '../rpc/update-container-resources';
import { containerStats } from '../rpc/container-stats';
import { listContainerStats } from '../rpc/list-container-stats';
import { streamContainerStats } from '../rpc/stream-container-stats';
import { podSandboxStats } from '../rpc/pod-sandbox-stats';
import { listPodSandboxStats } from '../rpc/list-pod-sandbox-stats';
import { streamPodSandboxStats } from '../rpc/stream-pod-sandbox-stats';
import { listMetricDescriptors } from '../rpc/list-metric-descriptors';
import { listPodSandboxMetrics } from '../rpc/list-pod-sandbox-metrics';
import { streamPodSandboxMetrics } from '../rpc/stream-pod-sandbox-metrics';
import { getContainerEvents } from '../events/container-events';
import { listPodSandbox } from '../rpc/list-pod-sandbox';
import { podSandboxStatus } from '../rpc/pod-sandbox-status';
import { pullImage } from '../rpc/pull-image';
import { removePodSandbox } from '../rpc/remove-pod-sandbox';
import { runPodSandbox } from '../rpc/run-pod-sandbox';
import { stopPodSandbox } from '../rpc/stop-pod-sandbox';
import { streamPodSandboxes } from '../rpc/stream-pod-sandboxes';
import { updateRuntimeConfig } from '../rpc/update-runtime-config';
import { updatePodSandboxResources } from '../rpc/update-pod-sandbox-resources';
import { removeImage } from '../rpc/remove-image';
import { runtimeConfig } from '../rpc/runtime-config';
import { status } from '../rpc/status';
import { streamImages } from '../rpc/stream-images';
import { version } from '../rpc/version';
import { HealthState, healthService } from './health';
import { RuntimeServiceDefinition } from './pre-encoded';
import { rpcMiddleware, RpcObserver } from './rpc-middleware';
import { withUnimplemented } from './unimplemented';

export interface CrispServer {
  server: GrpcServer;
  health: HealthState;
}

/** Requests are small; 16 MiB as the peers allow. */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
/** Answers can be large: ExecSync carries up to 16 MiB each of stdout and stderr (CRI-O allows 80 MiB). */
const MAX_SEND_BYTES = 80 * 1024 * 1024;

export function runtimeService(ctx: CrispContext): cri.RuntimeServiceImplementation {
  return withUnimplemented<cri.RuntimeServiceImplementation>(RuntimeServiceDefinition, {
    version: (req) => version(ctx, req),
    status: (req) => status(ctx, req),
    runtimeConfig: (req) => runtimeConfig(ctx, req),
    updateRuntimeConfig: (req) => updateRuntimeConfig(ctx, req),
    runPodSandbox: (req) => runPodSandbox(ctx, req),
    stopPodSandbox: (req) => stopPodSandbox(ctx, req),
    removePodSandbox: (req) => removePodSandbox(ctx, req),
    podSandboxStatus: (req, call) => podSandboxStatus(ctx, req, call),
    listPodSandbox: (req, call) => listPodSandbox(ctx, req, call),
    streamPodSandboxes: (req, call) => streamPodSandboxes(ctx, req, call),
    updatePodSandboxResources: (req, call) => updatePodSandboxResources(ctx, req, call),
    createContainer: (req) => createContainer(ctx, req),
    startContainer: (req) => startContainer(ctx, req),
    stopContainer: (req) => stopContainer(ctx, req),
    removeContainer: (req) => removeContainer(ctx, req),
    containerStatus: (req, call) => containerStatus(ctx, req, call),
    listContainers: (req) => listContainers(ctx, req),
    streamContainers: (req, call) => streamContainers(ctx, req, call),
    reopenContainerLog: (req) => reopenContainerLog(ctx, req),
    updateContainerResources: (req, call) => updateContainerResources(ctx, req, call),
    containerStats: (req, call) => containerStats(ctx, req, call),
    listContainerStats: (req, call) => listContainerStats(ctx, req, call),
    streamContainerStats: (req, call) => streamContainerStats(ctx, req, call),
    podSandboxStats: (req, call) => podSandboxStats(ctx, req, call),
    listPodSandboxStats: (req, call) => listPodSandboxStats(ctx, req, call),
    streamPodSandboxStats: (req, call) => streamPodSandboxStats(ctx, req, call),
    listMetricDescriptors: (req) => listMetricDescriptors(req),
    listPodSandboxMetrics: (req, call) => listPodSandboxMetrics(ctx, req, call),
    streamPodSandboxMetrics: (req, call) => streamPodSandboxMetrics(ctx, req, call),
    getContainerEvents: getContainerEvents(ctx.containerEvents),
    execSync: (req, call) => execSync(ctx, req, call),
    exec: (req) => exec(ctx, req),
    attach: (req) => attach(ctx, req),
    portForward: (req) => portForward(ctx, req),
  });
}

export function imageService(ctx: CrispContext): cri.ImageServiceImplementation {
  return withUnimplemented<cri.ImageServiceImplementation>(cri.ImageServiceDefinition, {
    pullImage: (req, call) => pullImage(ctx, req, call),
    listImages: (req, call) => listImages(ctx, req, call),
    streamImages: (req, call) => streamImages(ctx, req, call),
    imageStatus: (req, call) => imageStatus(ctx, req, call),
    removeImage: (req, call) => removeImage(ctx, req, call),
    imageFsInfo: (req, call) => imageFsInfo(ctx, req, call),
  });
}

export function createCrispServer(ctx: CrispContext, observer?: RpcObserver): CrispServer {
  const state = new HealthState([cri.RuntimeServiceDefinition.fullName, cri.ImageServiceDefinition.fullName]);
  const server = createGrpcServer({
    maxReceiveMessageBytes: MAX_RECEIVE_BYTES,
    maxSendMessageBytes: MAX_SEND_BYTES,
    onConnectionError: (err) => ctx.logger.warn({ err }, 'a CRI client broke the HTTP/2 protocol; its connection was closed'),
  }).use(rpcMiddleware(ctx.logger, observer));
  server.add(RuntimeServiceDefinition, runtimeService(ctx));
  server.add(cri.ImageServiceDefinition, imageService(ctx));
  server.add(health.HealthDefinition, healthService(state));
  return { server, health: state };
}
