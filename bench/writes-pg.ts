/**
 * `pnpm bench writes-pg`: versioned appends per second of the PostgreSQL store on the real server
 * at concurrency 1 and 32, and on in-memory PGlite at concurrency 1. BENCH_DURATION_MS per point
 * (default 3000).
 */
import { measurePgliteWrites, measurePgWrites } from './lib/writes-pg.js';

const duration = Number(process.env.BENCH_DURATION_MS ?? 3000);
const pg_c1 = await measurePgWrites(1, duration);
const pg_c32 = await measurePgWrites(32, duration);
const pglite_c1 = await measurePgliteWrites(1, duration);
console.log(
  JSON.stringify({
    bench: 'writes-pg',
    duration_ms: duration,
    pg_c1: Math.round(pg_c1),
    pg_c32: Math.round(pg_c32),
    pglite_c1: Math.round(pglite_c1),
  }),
);
