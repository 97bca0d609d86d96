// Hand-written entry point over the generated code in ./generated (rebuilt by `make generate`).
// Each upstream API is exported as a namespace named for what it is.
export * as cri from './generated/runtime/v1/api';
export * as health from './generated/grpc/health/v1/health';

export * as containers from './generated/services/containers/v1/containers';
export * as content from './generated/services/content/v1/content';
export * as diff from './generated/services/diff/v1/diff';
export * as events from './generated/services/events/v1/events';
export * as images from './generated/services/images/v1/images';
export * as introspection from './generated/services/introspection/v1/introspection';
export * as leases from './generated/services/leases/v1/leases';
export * as namespaces from './generated/services/namespaces/v1/namespace';
export * as snapshots from './generated/services/snapshots/v1/snapshots';
export * as tasks from './generated/services/tasks/v1/tasks';
export * as version from './generated/services/version/v1/version';

export * as taskEvents from './generated/events/task';
export * as containerEvents from './generated/events/container';
export * as imageEvents from './generated/events/image';
export * as contentEvents from './generated/events/content';
export * as snapshotEvents from './generated/events/snapshot';
export * as namespaceEvents from './generated/events/namespace';

export * as mount from './generated/types/mount';
export * as eventTypes from './generated/types/event';
export * as descriptor from './generated/types/descriptor';
export * as platform from './generated/types/platform';
export * as task from './generated/types/task/task';
export * as metrics from './generated/types/metrics';
export * as runcOptions from './generated/types/runc/options/oci';

export * as cgroup1 from './generated/cgroup1/stats/metrics';
export * as cgroup2 from './generated/cgroup2/stats/metrics';

export { Any } from './generated/google/protobuf/any';
export { Empty } from './generated/google/protobuf/empty';
export { Timestamp } from './generated/google/protobuf/timestamp';
export { FieldMask } from './generated/google/protobuf/field_mask';
export { Status as RpcStatus } from './generated/google/rpc/status';
