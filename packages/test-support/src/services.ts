/**
 * The real Consul and PostgreSQL that `scripts/services.sh` started. Integration tests never skip:
 * without the services they fail with this message, so a CI run cannot pass by skipping them.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** The repository's root directory. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const script = join(repoRoot, 'scripts', 'services.sh');

export interface Services {
  consulAddr: string;
  databaseUrl: string;
}

export function services(): Services {
  const consulAddr = process.env.CONSUL_HTTP_ADDR;
  const databaseUrl = process.env.DATABASE_URL;
  if (!consulAddr || !databaseUrl) {
    throw new Error(
      'CONSUL_HTTP_ADDR and DATABASE_URL are not set: run the tests with `npm test`, or start the services with ' +
        '`sh scripts/services.sh up && eval "$(sh scripts/services.sh env)"`',
    );
  }
  return { consulAddr, databaseUrl };
}

/** Fault injection through the services script: `consul kill`, `consul start`, `postgres stop`, ... */
export async function serviceCtl(service: 'consul' | 'postgres', action: string): Promise<void> {
  await run('sh', [script, service, action], { timeout: 60_000 });
}

/**
 * The 3-server Consul cluster of the services script (`cluster up|down|leader|kill-leader|start N`):
 * returns what the command printed on stdout, trimmed.
 */
export async function clusterCtl(...args: string[]): Promise<string> {
  const { stdout } = await run('sh', [script, 'cluster', ...args], { timeout: 90_000 });
  return stdout.trim();
}

/** The HTTP address of cluster node `n` (1..3). */
export function clusterNode(n: number): string {
  return `http://127.0.0.1:${Number(process.env.SUMMIT_CLUSTER_PORT ?? 18600) + 10 * n}`;
}
