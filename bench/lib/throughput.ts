/**
 * Operations per second of `concurrency` writers calling `write(writer)` in a loop for `durationMs`,
 * after one warm-up call per writer (connections, migrations, prepared plans, refs).
 */
export async function throughput(
  concurrency: number,
  durationMs: number,
  write: (writer: number) => Promise<unknown>,
): Promise<number> {
  await Promise.all(Array.from({ length: concurrency }, (_, w) => write(w)));
  let count = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end) {
        await write(w);
        count++;
      }
    }),
  );
  return count / ((performance.now() - start) / 1000);
}
