/** Shared measurement helpers for the benchmarks. */

/** Nanoseconds per call of `fn`, median of `runs` runs of `iterations` calls each (after a warm-up run). */
export function nsPerOp(fn: (i: number) => unknown, iterations = 2_000_000, runs = 7): number {
  let sink = 0;
  const once = () => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (fn(i) === sink) sink++;
    return Number(process.hrtime.bigint() - start) / iterations;
  };
  once();
  const samples = Array.from({ length: runs }, once).sort((a, b) => a - b);
  if (sink === -1) console.log(sink); // keeps `sink` observable so the loop is not optimised away
  return samples[Math.floor(runs / 2)] as number;
}

/** The p-th percentile (0-100) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const round = (n: number, digits = 2) => Number(n.toFixed(digits));
