// Giving a container or exec process EOF on its stdin: crisp's writer to the stdin FIFO is ended,
// and once its bytes are in the FIFO, Tasks.CloseIO closes the write end the shim holds too (it
// keeps one open so that the process doesn't see EOF between two clients). Only both give EOF; in
// this order, as containerd's own clients do after their copy, no byte written is lost.
import type { ContainerdClient } from '@crisp/containerd';
import type { Logger } from '../log';
import type { FifoWriter } from '../logs';

export function closeProcessStdin(containerd: ContainerdClient, writer: FifoWriter, containerId: string, execId: string, log: Logger): void {
  writer.stream.once('close', () => {
    containerd.tasks
      .closeIO({ containerId, execId, stdin: true })
      .catch((err: unknown) => log.debug({ err, containerId, execId }, 'CloseIO failed (the process is gone?)'));
  });
  writer.close();
}
