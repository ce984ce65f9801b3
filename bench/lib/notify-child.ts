/**
 * The receiving side of bench/notify.ts, run in its own process (forked with IPC): a PostgreSQL
 * store watch (one LISTEN connection) on the schema given as argv, reported as watch-child.ts says.
 */
import { createPostgresStore } from '@summit-config/backends/postgres';
import { reportWatch } from './watch-child.js';

const [url, schema] = process.argv.slice(2) as [string, string];

reportWatch(createPostgresStore({ connectionString: url, schema, applicationName: 'summit-bench-notify' }), (error) =>
  process.stderr.write(`notify-child: ${error.message}\n`),
);
