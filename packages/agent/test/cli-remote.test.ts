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
  serving = await serveConfigServer({ runtime, config, server, owner: 'alice', env: remote.env });
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

  it('watch through the server: every change streams, in order, with its author, until stopped', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const watching = runIn(
      { PATH: process.env.PATH, SUMMIT_SERVER: serving.url, SUMMIT_TOKEN: tokens.alice },
      ['watch', '--scope', 'app:live', '--json'],
      { actor: 'alice', signal: controller.signal, onStdout: (c) => lines.push(...c.trim().split('\n')) },
    );
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 1; i <= 3; i++) {
      // Written on both sides, so the two trails stay alike for the later comparisons.
      for (const h of [remote, direct]) {
        const w = await h.run(['set', 'app:live/flag', '--json-value', JSON.stringify({ n: i })], { actor: 'alice' });
        expect(w.code, w.stderr).toBe(0);
      }
    }
    const deadline = Date.now() + 10_000;
    while (lines.filter((l) => l.includes('"type":"change"')).length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    controller.abort();
    const done = await watching;
    expect(done.code, done.stderr).toBe(0);
    const changes = lines.map(
      (l) => JSON.parse(l) as { type: string; ref: string; version: number; createdBy: string },
    );
    expect(changes.filter((c) => c.type === 'change').map((c) => [c.ref, c.version, c.createdBy])).toEqual([
      ['app:live/flag', 1, 'alice'],
      ['app:live/flag', 2, 'alice'],
      ['app:live/flag', 3, 'alice'],
    ]);
  });

  it('watch --app -e through the server: each change of the app or global layer streams its resolved value', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const watching = runIn(
      { PATH: process.env.PATH, SUMMIT_SERVER: serving.url, SUMMIT_TOKEN: tokens.alice },
      ['watch', 'flag', '--app', 'live', '-e', 'staging', '--json'],
      { actor: 'alice', signal: controller.signal, onStdout: (c) => lines.push(...c.trim().split('\n')) },
    );
    await new Promise((r) => setTimeout(r, 500));
    const writes = [{ n: 10 }, { n: 11, extra: true }];
    for (const value of writes) {
      for (const h of [remote, direct]) {
        const w = await h.run(['set', 'app:live/flag', '--json-value', JSON.stringify(value)], { actor: 'alice' });
        expect(w.code, w.stderr).toBe(0);
      }
    }
    const deadline = Date.now() + 10_000;
    while (lines.filter((l) => l.includes('"type":"change"')).length < writes.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    controller.abort();
    expect((await watching).code).toBe(0);
    const changes = lines
      .map((l) => JSON.parse(l) as { type: string; id: string; version: number; value: unknown })
      .filter((c) => c.type === 'change');
    // Every write seen, in order, with the value the server resolves for it (versions 4 and 5: the
    // watch test above wrote 1-3).
    expect(changes.map((c) => [c.id, c.version, c.value])).toEqual([
      ['flag', 4, writes[0]],
      ['flag', 5, writes[1]],
    ]);
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

  it('report: the same figures through the server (latencies aside: each side timed its own requests)', async () => {
    // Each side's approval latencies are its own real durations; everything else must match.
    // (The P50 column is as wide as its value, so the header's spacing before P95 varies with it.)
    const latencyFree = (text: string) =>
      text
        .replace(/"p(50|95)Ms": [0-9.]+/g, '"p$1Ms": <ms>')
        .replace(/^(\d+ +\d+ +\d+ +\d+ +\d+) +\S+ +\S+$/m, '$1  <p50>  <p95>')
        .replace(/ P50 +P95$/m, ' P50  P95');
    const runs: Array<[string[], Who]> = [
      [['report'], 'alice'],
      [['report', '--json'], 'alice'],
      [['report', '--since', '1d', '--top', '1', '--json'], 'alice'],
      [['report'], 'rita'],
    ];
    for (const [args, as] of runs) {
      const [d, r] = await both(args, { as });
      expect([d.code, r.code], d.stderr + r.stderr).toEqual([0, 0]);
      expect(latencyFree(normalise(r.stdout, 'remote')), args.join(' ')).toEqual(
        latencyFree(normalise(d.stdout, 'direct')),
      );
      expect(r.stderr).toBe(d.stderr);
    }
    const [d] = await both(['report', '--json']);
    expect(d.json()).toMatchObject({ approvals: { requests: 1, decided: 1, approvedFirst: 1, undecided: 0 } });
    await same(['report', '--top', '0'], { fails: true });
    await same(['report', '--since=-5d', '--json'], { fails: true });
  });

  it('schemas: register with the compatibility report, validate, get, list; a breaking change refused', async () => {
    const v1 = JSON.stringify({
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer' } },
    });
    await same(['schema', 'register', 'db', '--json-value', v1]);
    await same(['schema', 'register', 'db', '--json-value', v1, '--json']);
    await same(['schema', 'validate', 'db', '--json-value', '{"host":"x","port":1}']);
    await same(['schema', 'validate', 'db', '--json-value', '{"port":"x"}'], { fails: true });
    await same(['schema', 'validate', 'db', '--json-value', '{"port":"x"}', '--json'], { fails: true });
    await same(['schema', 'get', 'db']);
    await same(['schema', 'list', '--json']);
    const breaking = JSON.stringify({ type: 'object', properties: { host: { type: 'integer' } }, required: ['host'] });
    const [d] = await same(['schema', 'register', 'db', '--json-value', breaking], { fails: true });
    expect(d.code).not.toBe(0);
  });

  it('export through the server holds what a direct export holds', async () => {
    const [d, r] = await both(['export']);
    expect([d.code, r.code], d.stderr + r.stderr).toEqual([0, 0]);
    const kinds = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { type?: string }).type ?? 'header')
        .sort();
    expect(kinds(r.stdout)).toEqual(kinds(d.stdout));
    // The same file imported through the server into another pair of empty stores.
    const target = await realHarness('rimport');
    const config = await loadAgentConfig(undefined, target.env);
    const rt = await openRuntime(config, { role: 'server' });
    const server = serverSection({ port: 0, rbacFile: `${target.dir}/rbac.yaml` }, {}, undefined, true);
    const other = await serveConfigServer({
      runtime: rt,
      config,
      server: server as NonNullable<typeof server>,
      owner: 'alice',
    });
    try {
      const made = await target.run(['token', 'create', '--name', 'i', '--roles', 'operator', '--json'], {
        actor: 'alice',
      });
      const env = { PATH: process.env.PATH, SUMMIT_SERVER: other.url, SUMMIT_TOKEN: made.json().token };
      const file = `${target.dir}/export.ndjson`;
      await import('node:fs/promises').then((fs) => fs.writeFile(file, r.stdout));
      const imported = await runIn(env, ['import', file, '--json'], { actor: 'alice' });
      expect(imported.code, imported.stderr).toBe(0);
      const listed = await runIn(env, ['list', '--json'], { actor: 'alice' });
      const mine = await direct.run(['list', '--json'], { actor: 'alice' });
      expect(listed.json()).toEqual(mine.json());
      // A damaged file is refused whole: nothing is written.
      const cut = r.stdout.split('\n').slice(0, 3).join('\n');
      const again = await runIn(env, ['import', '-', '--json'], { actor: 'alice', stdin: cut });
      expect(again.code).not.toBe(0);
    } finally {
      await other.close();
      await rt.close();
      await target.cleanup();
    }
  }, 60_000);

  it('secrets: list, policy and rotate through the server; a value is never sent, create is refused', async () => {
    for (const h of [direct, remote]) {
      const made = await h.run(['secret', 'create', 'db-pass', '--generate', '24'], { actor: 'carol' });
      expect(made.code, made.stderr).toBe(0);
    }
    await same(['secret', 'list'], { as: 'carol' });
    await same(['secret', 'policy', 'db-pass', '--rotation-days', '30', '--grace-days', '0'], { as: 'carol' });
    await same(['secret', 'list', '--json'], { as: 'carol' });
    const [rd, rr] = await both(['secret', 'rotate', 'db-pass', '--wait', '--json'], { as: 'carol' });
    expect([rd.code, rr.code], rd.stderr + rr.stderr).toEqual([0, 0]);
    const view = (x: CliResult) => {
      const p = x.json() as { state: string; lastRun?: { version: string } };
      return { state: p.state, version: p.lastRun?.version };
    };
    expect(view(rr)).toEqual(view(rd));
    expect(view(rr)).toEqual({ state: 'idle', version: '2' });
    await same(['secret', 'list'], { as: 'rita', fails: true });
    const [, r] = await both(['secret', 'create', 'other', '--generate'], { as: 'carol' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/a value never crosses the API/);
  });

  it('maintenance: reconcile, audit checkpoint and trust resign through the server', async () => {
    const [d] = await same(['reconcile']);
    expect(d.stdout).toMatch(/ref\(s\) compared between consul and postgres/);
    await same(['reconcile', '--json']);
    // No signing key in these configurations: both refuse alike.
    await same(['audit', 'checkpoint'], { fails: true });
    await same(['trust', 'resign', '--dry-run', '--json'], { fails: true });
    await same(['reconcile'], { as: 'rita', fails: true });
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
