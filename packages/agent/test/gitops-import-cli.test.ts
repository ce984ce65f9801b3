/**
 * `summit-config gitops import spring|node-config` against real PostgreSQL + Consul (the CLI
 * harness): the sample trees of examples/gitops are written into `--out` as the shipped layouts and
 * planned against the stores (the plan shows the new refs and environments, and nothing reaches a
 * store); a dry run writes nothing; after `gitops apply` of the imported tree the open environments
 * resolve to the sources' values and a second import plans no change; a malformed source or a
 * non-empty `--out` fails with exit 2 and writes nothing anywhere.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, realHarness } from './cli-harness.js';

const EXAMPLES = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/gitops');

let root: string;
let counter = 0;
const harnesses: Harness[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'summit-import-cli-test-'));
});
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.cleanup();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fresh(label: string): Promise<Harness> {
  const h = await realHarness(label);
  harnesses.push(h);
  return h;
}

async function filesUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    out.set(relative(dir, full).split(sep).join('/'), await readFile(full, 'utf8'));
  }
  return out;
}

async function auditCount(h: Harness): Promise<number> {
  const r = await h.run(['audit', '--json', '--limit', '10000']);
  expect(r.code, r.stderr).toBe(0);
  return (r.json() as unknown[]).length;
}

interface PlanRef {
  ref: string;
  action: string;
  approvals: Array<{ environment: string }>;
}

describe('gitops import', () => {
  it('spring: writes the shipped layout into --out and plans it against the stores, writing nothing there', async () => {
    const h = await fresh('imp_spring');
    const out = join(root, `spring-${++counter}`);
    const r = await h.run(['gitops', 'import', 'spring', join(EXAMPLES, 'spring/config-repo'), '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(await filesUnder(out)).toEqual(await filesUnder(join(EXAMPLES, 'spring/layout')));
    const report = r.json();
    expect(report.out).toBe(out);
    expect(report.refs).toEqual(['app:billing-service/application', 'app:orders/application', 'global/application']);
    const plan = report.plan as { refs: PlanRef[]; environments: Array<{ name: string; action: string }> };
    expect(plan.refs.map((p) => [p.ref, p.action])).toEqual(
      expect.arrayContaining([
        ['app:billing-service/application', 'create'],
        ['app:orders/application', 'create'],
        ['global/application', 'create'],
      ]),
    );
    expect(plan.refs).toHaveLength(3);
    expect(
      plan.environments
        .filter((e) => e.action === 'create')
        .map((e) => e.name)
        .sort(),
    ).toEqual(['dev', 'production', 'staging']);
    // Production overrides need approval (production: true in environments.yaml).
    for (const p of plan.refs) expect(p.approvals.map((a) => a.environment)).toEqual(['production']);
    // Planning wrote nothing.
    expect(await auditCount(h)).toBe(0);
    expect((await h.run(['get', 'global/application', '--json'])).code).toBe(4);

    // The human output: what mapped where, then the plan.
    const out2 = join(root, `spring-${++counter}`);
    const text = await h.run(['gitops', 'import', 'spring', join(EXAMPLES, 'spring/config-repo'), '--out', out2]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/orders-production\.properties\s+app:orders\/application\s+production/);
    expect(text.stdout).toMatch(/skipped bootstrap\.yml: /);
    expect(text.stdout).toMatch(/gitops plan of /);
    expect(text.stdout).toMatch(/3 to create/);
  });

  it('node-config: a dry run writes nothing; the imported tree applies, resolves, and plans unchanged after', async () => {
    const h = await fresh('imp_node');
    const src = join(EXAMPLES, 'node-config/shop');
    const before = new Set(await readdir(tmpdir()));
    const dry = await h.run(['gitops', 'import', 'node-config', src, '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json().out).toBeUndefined();
    expect(dry.json().plan.refs.map((p: PlanRef) => [p.ref, p.action])).toEqual([['app:shop/config', 'create']]);
    // The temporary layout is gone.
    const left = (await readdir(tmpdir())).filter((n) => n.startsWith('summit-import-dry-') && !before.has(n));
    expect(left).toEqual([]);

    // A tree without guarded environments applies directly: import with only dev and staging.
    const open = join(root, `node-src-${++counter}`);
    await mkdir(join(open, 'config'), { recursive: true });
    for (const name of ['default.json', 'dev.yaml', 'staging.json']) {
      await writeFile(join(open, 'config', name), await readFile(join(src, 'config', name)));
    }
    const out = join(root, `node-out-${++counter}`);
    const imported = await h.run(['gitops', 'import', 'node-config', open, '--app', 'shop', '--out', out, '--no-plan']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/run: summit-config gitops plan /);
    const apply = await h.run(['gitops', 'apply', out, '--json']);
    expect(apply.code, apply.stderr).toBe(0);
    const dev = await h.run(['get', 'app:shop/config', '--environment', 'dev', '--json']);
    expect(dev.code, dev.stderr).toBe(0);
    const defaults = JSON.parse(await readFile(join(src, 'config/default.json'), 'utf8'));
    expect(dev.json()).toMatchObject({
      value: {
        ...defaults,
        db: { ...defaults.db, pool: { ...defaults.db.pool, max: 2 } },
        features: { ...defaults.features, newCheckout: true },
        logLevel: 'debug',
      },
    });
    const again = await h.run(['gitops', 'import', 'node-config', open, '--app', 'shop', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().plan.refs.map((p: PlanRef) => [p.ref, p.action])).toEqual([['app:shop/config', 'unchanged']]);
  });

  it('a malformed source fails with exit 2 naming file and line; nothing is written, not even --out', async () => {
    const h = await fresh('imp_bad');
    const src = join(root, `bad-${++counter}`);
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'application.yml'), 'a: 1\n');
    await writeFile(join(src, 'shop-dev.properties'), 'ok=1\nlist[0]=a\nlist[2]=c\n');
    const out = join(root, `bad-out-${counter}`);
    const r = await h.run(['gitops', 'import', 'spring', src, '--out', out, '--json']);
    expect(r.code).toBe(2);
    expect(r.error()).toMatchObject({ code: 'CONSTRAINT_VIOLATION', file: 'shop-dev.properties', line: 2 });
    expect(r.stdout).toBe('');
    await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir(root)).filter((n) => n.startsWith(`bad-out-${counter}`))).toEqual([]);
    expect(await auditCount(h)).toBe(0);

    const human = await h.run(['gitops', 'import', 'spring', src, '--out', out]);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(/^error CONSTRAINT_VIOLATION: shop-dev\.properties:2: /);
  });

  it('refuses a non-empty --out (exit 2) and leaves it as it was', async () => {
    const h = await fresh('imp_busy');
    const out = join(root, `busy-${++counter}`);
    await mkdir(out);
    await writeFile(join(out, 'notes.txt'), 'keep me');
    const r = await h.run(['gitops', 'import', 'node-config', join(EXAMPLES, 'node-config/shop'), '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty/);
    expect(await filesUnder(out)).toEqual(new Map([['notes.txt', 'keep me']]));
  });
});
