/**
 * The receiving side of bench/notify.ts, run in its own process (forked with IPC): a PostgreSQL
 * store watch (one LISTEN connection) on the schema given as argv. Sends { ready } once the watch
 * has delivered its initial heads, then { key, version, at } per change, where `at` is wall-clock
 * milliseconds (performance.timeOrigin + performance.now()) when the callback ran.
 */
import { createPostgresStore } from '@summit-config/backends/postgres';

const [url, schema] = process.argv.slice(2) as [string, string];
const now = () => performance.timeOrigin + performance.now();
const send = (message: Record<string, unknown>) => process.send?.(message);

const store = createPostgresStore({ connectionString: url, schema, applicationName: 'summit-bench-notify' });
let ready = false;
store.watch(
  (change) => {
    const at = now();
    if (change.initial) {
      if (!ready) {
        ready = true;
        send({ ready: true });
      }
      return;
    }
    send({ key: change.key, version: change.version, at });
  },
  { scope: 'global', initial: true, onError: (error) => process.stderr.write(`notify-child: ${error.message}\n`) },
);
process.on('disconnect', () => void store.close().then(() => process.exit(0)));
