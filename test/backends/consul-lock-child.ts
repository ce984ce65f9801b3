/**
 * A process that competes for a leader lock (used by consul-lock.test.ts). Usage:
 *   npx tsx --conditions=source consul-lock-child.ts <address> <prefix> <name> <label>
 * Prints one JSON line per event on stdout: ready, acquired {token, session}, lost, error.
 * Releases the lock and exits when stdin closes or on SIGTERM.
 */
import { createLeaderLock } from '@summit-config/backends/consul';

const [address, prefix, name, label] = process.argv.slice(2);
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ label, ...event })}\n`);

const lock = createLeaderLock({
  address,
  prefix,
  name: name ?? 'race',
  holder: label,
  ttlMs: 10_000,
  lockDelayMs: 0,
  waitMs: 5_000,
  onError: (e) => say({ event: 'error', code: e.code, message: e.message }),
});
lock.onLost((e) => say({ event: 'lost', code: e.code }));

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await lock.close().catch(() => {});
  process.exit(0);
}
process.stdin.on('end', () => void shutdown());
process.stdin.on('close', () => void shutdown());
process.stdin.resume();
process.on('SIGTERM', () => void shutdown());

say({ event: 'ready' });
if (!(await lock.tryAcquire())) say({ event: 'waiting' });
const token = await lock.acquire();
say({ event: 'acquired', token, session: lock.sessionId });
// After a loss, compete again: the test expects exactly one holder at any time.
lock.onLost(() => {
  void lock.acquire().then((t) => say({ event: 'acquired', token: t, session: lock.sessionId }));
});
