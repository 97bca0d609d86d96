// Container lifecycle events: exit tracking over containerd's event stream, and the fan-out behind
// CRI GetContainerEvents.
export * from './exit-labels';
export * from './exit-tracker';
export * from './container-events';
export { readOomKillCount, cgroupDir, expandSlice, parseOomKill } from './oom-cgroup';
