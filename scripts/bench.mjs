#!/usr/bin/env node
// `pnpm bench <name>`: runs bench/<name>.ts with real Consul and PostgreSQL (started through
// scripts/services.sh unless CONSUL_HTTP_ADDR and DATABASE_URL are already set).
// Each benchmark prints one JSON object as its last line.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const name = process.argv[2];
const available = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.ts') && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!name || !existsSync(join(root, 'bench', `${name}.ts`))) {
  console.error(`usage: pnpm bench <name>   (one of: ${available.join(', ')})`);
  process.exit(2);
}
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const cmd = [tsx, '--expose-gc', '--conditions=source', join(root, 'bench', `${name}.ts`), ...process.argv.slice(3)];
// In-process benchmarks need no services; the rest get real Consul and PostgreSQL.
const inProcess = new Set(['read', 'resolve', 'trust', 'coldstart', 'console']);
const haveServices = process.env.CONSUL_HTTP_ADDR && process.env.DATABASE_URL;
const args =
  haveServices || inProcess.has(name) ? cmd : ['sh', join(root, 'scripts', 'services.sh'), 'run', '--', ...cmd];
const result = spawnSync(args[0], args.slice(1), { stdio: 'inherit', cwd: root, env: process.env });
process.exit(result.status ?? 1);
