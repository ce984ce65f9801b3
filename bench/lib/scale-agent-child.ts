/**
 * The agent of bench/scale.ts, in its own process (forked with IPC): `runAgent` with the given
 * configuration file (stores from the environment). Sends { ready } once the app's client loaded,
 * { rss } (bytes, after a GC) when asked to `sample`, and { served } (versions applied since start)
 * when asked to `count`.
 */
import { runAgent } from '@summit-config/agent';

const [configFile] = process.argv.slice(2) as [string];
const running = await runAgent({ configFile, handleSignals: false });
let served = 0;
running.agent.events.on('applied', () => served++);
const deadline = Date.now() + 120_000;
while (!running.agent.client('scale', 'production') && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 50));
}
if (!running.agent.client('scale', 'production')) throw new Error('the agent never loaded app scale');
served = 0;
process.send?.({ ready: true });
process.on('message', (m: { sample?: boolean; count?: boolean }) => {
  if (m.sample) {
    globalThis.gc?.();
    process.send?.({ rss: process.memoryUsage().rss });
  }
  if (m.count) process.send?.({ served });
});
process.on('disconnect', () => void running.stop().then(() => process.exit(0)));
