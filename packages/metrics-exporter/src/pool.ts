// Bounded fan-out for per-container I/O (snapshot usage walks, /proc reads): however many containers
// a scrape or a stats call covers, at most `limit` of these are in flight.

/** Runs `task` for every item with at most `limit` running at once; settles when all have. `task` must not throw. */
export async function eachLimited<T>(items: Iterable<T>, limit: number, task: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const lanes: Promise<void>[] = [];
  const lane = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  };
  const width = Math.min(Math.max(1, limit), queue.length);
  for (let i = 0; i < width; i++) lanes.push(lane());
  await Promise.all(lanes);
}
