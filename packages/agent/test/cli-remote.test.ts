/**
 * The CLI's remote mode, command by command: the same script of command lines runs in direct mode
 * against one pair of stores and through a config server (over real Consul and PostgreSQL of its
 * own) with API tokens, and every step must print the same thing and exit with the same code, for
 * human and `--json` output and for failures. The remote runs get no store credentials at all.
 *
 * What legitimately differs is normalised before comparing: times, change request ids, the audit
 * source (`cli` here, `api` there) and the request origin the server records.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAgentConfig } from '../src/config.js';
import { serverSection } from '../src/config-server.js';
import { openRuntime, type Runtime } from '../src/runtime.js';
import { type ServingServer, serveConfigServer } from '../src/serve.js';
import { type CliResult, type Harness, type RunOptions, realHarness, runIn } from './cli-harness.js';

const ACTORS = { alice: 'operator', bob: 'config-admin', carol: 'config-admin,secrets-admin', rita: 'config-reader' };
type Who = keyof typeof ACTORS;

let direct: Harness;
let remote: Harness;
let runtime: Runtime;
let serving: ServingServer;
const tokens: Partial<Record<Who, string>> = {};

/** Change request ids of each side, in the order the script made them, replaced by `CR<n>`. */
const ids = { direct: [] as string[], remote: [] as string[] };

/** Keys sorted at every level: JSON output is compared as documents (a server may order keys otherwise). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    if (key === 'origin') continue; // the request the server recorded (remote only)
    // The audit chain's hashes cover times and token ids, which differ between the two runs.
    out[key] = key === 'hash' || key === 'prevHash' ? '<hash>' : canonical((value as Record<string, unknown>)[key]);
  }
  return out;
}

function normalise(text: string, side: 'direct' | 'remote'): string {
  let out = text;
  try {
    out = JSON.stringify(canonical(JSON.parse(text)), null, 2);
  } catch {
    // human output: compared as text
  }
  out = out
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g, '<time>')
    .replace(/(os-user|token):[A-Za-z0-9@._-]+/g, '<credential>')
    .replace(/API token [a-z2-7]{12}/g, 'API token <id>')
    .replace(/head seq (\d+) [0-9a-f]{16}…/g, 'head seq $1 <hash>…')
    .replace(/\b(cli|api)\b/g, '<source>');
  ids[side].forEach((id, i) => {
    out = out.replaceAll(id, `CR${i}`);
  });
  return out;
}

async function both(args: string[], options: RunOptions & { as?: Who } = {}): Promise<[CliResult, CliResult]> {
  const as = options.as ?? 'alice';
  const d = await direct.run(args, { ...options, actor: as });
  const r = await runIn({ PATH: process.env.PATH, SUMMIT_SERVER: serving.url, SUMMIT_TOKEN: tokens[as] }, args, {
    ...options,
    actor: as,
  });
  return [d, r];
}

/** Runs `args` on both sides and expects the same exit code, stdout and stderr. */
async function same(
  args: string[],
  options: RunOptions & { as?: Who; fails?: boolean } = {},
): Promise<[CliResult, CliResult]> {
  const [d, r] = await both(args, options);
  if (!options.fails) expect(d.code, `${args.join(' ')}: ${d.stderr}`).toBe(0);
  const view = (x: CliResult, side: 'direct' | 'remote') => ({
    code: x.code,
    stdout: normalise(x.stdout, side),
    stderr: normalise(x.stderr, side),
  });
  expect(view(r, 'remote'), `${args.join(' ')}`).toEqual(view(d, 'direct'));
  return [d, r];
}

beforeAll(async () => {
  direct = await realHarness('rdirect');
  remote = await realHarness('rremote');
  const config = await loadAgentConfig(undefined, remote.env);
  runtime = await openRuntime(config, { role: 'server' });
  const server = serverSection(
    { port: 0, rbacFile: `${remote.dir}/rbac.yaml`, rateLimitPerSecond: 0 },
    {},
    undefined,
    true,
  ) as NonNullable<ReturnType<typeof serverSection>>;
  serving = await serveConfigServer({ runtime, config, server, owner: 'alice' });
  // The same token commands on both sides, so both audit trails hold the same events.
  for (const [who, roles] of Object.entries(ACTORS) as Array<[Who, string]>) {
    const args = ['token', 'create', '--name', `${who}'s laptop`, '--owner', who, '--roles', roles, '--json'];
    const d = await direct.run(args, { actor: 'alice' });
    const r = await remote.run(args, { actor: 'alice' });
    expect([d.code, r.code], d.stderr + r.stderr).toEqual([0, 0]);
    tokens[who] = r.json().token;
  }
}, 120_000);

afterAll(async () => {
  await serving?.close();
  await runtime?.close();
  await direct?.cleanup();
  await remote?.cleanup();
});

describe('remote mode prints and exits as direct mode does', () => {
  it('environments, writes, reads, history, diffs and rollbacks', async () => {
    await same(['env', 'create', 'staging']);
    await same(['env', 'list']);
    await same(['env', 'list', '--json']);
    await same(['set', 'global/db', '--json-value', '{"host":"db","port":5432}', '-m', 'first']);
    await same(['set', 'app:web/db', '--json-value', '{"port":6432}', '--json']);
    await same(['set', 'app:web/db', '--env', 'staging', '--json-value', '{"host":"stage-db"}']);
    await same(['get', 'global/db']);
    await same(['get', 'global/db', '--json']);
    await same(['get', 'global/db', '--raw', '--version', '1']);
    await same(['list']);
    await same(['list', '--json']);
    await same(['list', '--scope', 'app:web']);
    await same(['list', '--filter', 'app:*/d*']);
    await same(['set', 'global/db', '--json-value', '{"host":"db2","port":5432}']);
    await same(['versions', 'global/db']);
    await same(['versions', 'global/db', '--json']);
    await same(['diff', 'global/db', '1', '2']);
    await same(['diff', 'global/db', '1', '--json']);
    await same(['rollback', 'global/db', '1', '-m', 'back']);
    await same(['get', 'app:web/db', '-e', 'staging']);
    await same(['get', 'app:web/db', '-e', 'staging', '--json']);
    await same(['explain', 'app:web/db', '-e', 'staging']);
    await same(['explain', 'app:web/db', '-e', 'staging', '--json']);
    await same(['set', 'app:web/db', '--json-value', '{"port":7432}', '--expected-version', '2']);
    await same(['delete', 'app:web/db', '-m', 'gone']);
    await same(['get', 'app:web/db', '--json']);
  });

  it('failures: the same code, message and exit status', async () => {
    const cases: string[][] = [
      ['get', 'global/missing'],
      ['get', 'global/missing', '--json'],
      ['set', 'global/../x', '--json-value', '{}'],
      ['set', 'global/bad', '--json-value', '[1]', '--json'],
      ['get', 'app:web/nothing', '-e', 'nowhere'],
      ['diff', 'global/db', '1', '99'],
      ['set', 'global/db', '--json-value', '{"a":1}', '--expected-version', '1', '--json'],
      ['set', 'global/db', '--env', 'production', '--json-value', '{"host":"prod"}'],
      ['set', 'global/db', '--env', 'production', '--json-value', '{"host":"prod"}', '--json'],
      ['versions', 'global/none'],
      ['approve', 'no-such-request'],
    ];
    await same(['env', 'create', 'production', '--production', '--required-approvals', '1']);
    for (const args of cases) {
      const [d] = await same(args, { fails: true });
      expect(d.code, args.join(' ')).not.toBe(0);
    }
    const [denied] = await same(['set', 'global/db', '--json-value', '{"a":1}', '--json'], { as: 'rita', fails: true });
    expect(denied.code).toBe(3);
    expect(denied.error().code).toBe('ACCESS_DENIED');
  });

  it('change requests: propose, review by another person, apply, audit', async () => {
    const args = ['propose', 'global/db', '--env', 'production', '--json-value', '{"host":"prod"}', '-q'];
    const [d, r] = await both(args);
    expect([d.code, r.code], d.stderr + r.stderr).toEqual([0, 0]);
    ids.direct.push(d.stdout.trim());
    ids.remote.push(r.stdout.trim());
    await same(['pending']);
    await same(['pending', '--json']);
    // Ids differ per side: run each side with its own id and compare the normalised output.
    const step = async (verb: string[], as: Who) => {
      const dd = await direct.run([...verb, ids.direct[0] as string], { actor: as });
      const rr = await runIn(
        { PATH: process.env.PATH, SUMMIT_SERVER: serving.url, SUMMIT_TOKEN: tokens[as] },
        [...verb, ids.remote[0] as string],
        { actor: as },
      );
      expect(
        { code: rr.code, out: normalise(rr.stdout, 'remote'), err: normalise(rr.stderr, 'remote') },
        verb.join(' '),
      ).toEqual({ code: dd.code, out: normalise(dd.stdout, 'direct'), err: normalise(dd.stderr, 'direct') });
      return dd;
    };
    expect((await step(['approve'], 'alice')).code).toBe(3); // nobody approves their own request
    expect((await step(['approve', '--json'], 'bob')).code).toBe(0);
    expect((await step(['apply'], 'alice')).code).toBe(0);
    await same(['pending', '--all']);
    await same(['get', 'global/db', '--json']);
    await same(['audit', 'global/db']);
    await same(['audit', '--json']);
    await same(['audit', 'verify']);
    await same(['audit', 'verify', '--json']);
  });

  it('token commands', async () => {
    const [d, r] = await both(['token', 'list', '--json']);
    expect([d.code, r.code]).toEqual([0, 0]);
    const names = (x: CliResult) => (x.json() as Array<{ name: string }>).map((t) => t.name).sort();
    expect(names(r)).toEqual(names(d));
    // Rita (a reader) may not list or create tokens, here or there.
    await same(['token', 'list'], { as: 'rita', fails: true });
    await same(['token', 'create', '--name', 'x', '--roles', 'config-reader'], { as: 'rita', fails: true });
    // Bob may not mint a token with more than he holds.
    await same(['token', 'create', '--name', 'x', '--roles', 'operator'], { as: 'bob', fails: true });
  });
});
