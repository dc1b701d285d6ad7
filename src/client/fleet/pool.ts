/**
 * Runs fn over items with at most `limit` at a time, in order. Before each start it asks
 * `mayStart`; once that says no, nothing more starts (what runs finishes). Returns the indexes
 * that never started.
 */
export async function boundedPool<T>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
  mayStart: () => boolean = () => true,
): Promise<number[]> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && mayStart()) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return Array.from({ length: items.length - next }, (_, k) => next + k);
}
