/**
 * Screenshots of the console's main pages, for the docs: `node_modules/.bin/tsx --conditions=source
 * packages/server/test/console/screenshots.ts [outDir]` (default `docs/screenshots`). Not a test
 * file (`npm test` does not run it): run it by hand after a visible change, then commit the PNGs.
 *
 * It builds the console with Vite, seeds a config server on 127.0.0.1 in this process (memory
 * store and governance, real API tokens, guarded production environments, configs with history and
 * rollout rules, a schema, a pending change request, the local secrets provider with a real key and
 * a rotation policy), opens Debian's Chromium (playwright-core, as the console tests do), signs in
 * by pasting a token and saves one viewport-sized PNG per page.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { type Actor, createConfigService, createRbac } from '@summit-config/core';
import {
  createLocalProvider,
  createMemoryRotationPolicies,
  createRotationManager,
  generateMasterKey,
} from '@summit-config/secrets';
import { chromium, type Page } from 'playwright-core';
import { createConfigServer, createMemoryTokenStore, createTokenAuthenticator } from '../../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const out = resolve(process.argv[2] ?? join(root, 'docs/screenshots'));

const ROOT: Actor = { id: 'alice', roles: ['superuser'] };
const rbac = createRbac({ roles: { superuser: ['*'] }, bindings: [] });
const store = createMemoryStore();
const governance = createMemoryGovernance();
const service = createConfigService({
  store,
  governance,
  rbac,
  environments: [
    { name: 'development', production: false },
    { name: 'staging', production: false, parent: 'development' },
    { name: 'production', production: false },
  ],
});
const provider = createLocalProvider({ key: generateMasterKey() });
const rotation = createRotationManager({
  policies: createMemoryRotationPolicies(),
  providers: [provider],
  service,
  store,
  rbac,
  actor: ROOT,
});
const tokens = createMemoryTokenStore();
const token = (await tokens.create({ name: 'docs', owner: 'alice', roles: ['superuser'] })).token;
const assetsDir = mkdtempSync(join(tmpdir(), 'summit-console-shots-'));
execFileSync(join(root, 'node_modules/.bin/vite'), ['build', join(root, 'packages/console'), '--outDir', assetsDir], {
  stdio: 'pipe',
});
const names = ['payments/db-password', 'payments/stripe-key', 'web/session-secret'];
const app = createConfigServer({
  service,
  store,
  rbac,
  authenticators: [createTokenAuthenticator(tokens)],
  console: { assetsDir },
  secrets: { provider, rotation, listNames: async () => names },
  // What the agents beside a real server would report: who leads, their last drift run, the sync loop.
  leader: () => ({ holder: 'agent-a@web-1:4242', fencingToken: 12 }),
  drift: () => ({
    startedAt: new Date(Date.now() - 40_000).toISOString(),
    durationMs: 180,
    examined: 6,
    remediated: 0,
    findings: [
      {
        kind: 'lagging-instance',
        ref: 'global/db',
        message: 'global/db: instance checkout-7 (production) applied v1, 1 behind the head v2',
        source: 'scan',
        instance: 'checkout-7',
        environment: 'production',
        ackVersion: 1,
        headVersion: 2,
      },
    ],
  }),
  gitops: () => ({
    repo: 'git@git.example.com:platform/config.git',
    branch: 'main',
    path: '',
    state: 'synced',
    appliedCommit: '3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e',
    appliedAt: new Date(Date.now() - 300_000).toISOString(),
    head: '3f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e',
    headSeenAt: new Date(Date.now() - 20_000).toISOString(),
    blocked: undefined,
    drift: [],
    conflicts: [],
    requests: [],
    lastRunAt: new Date(Date.now() - 20_000).toISOString(),
    lastError: undefined,
    leading: true,
  }),
});

// ---- The seed ----
const set = (input: Record<string, unknown>) => service.set(ROOT, input as never);
await service.registerSchema(ROOT, 'db', {
  type: 'object',
  properties: { host: { type: 'string' }, pool: { type: 'integer', minimum: 1 }, timeoutMs: { type: 'integer' } },
  required: ['host'],
});
await set({ ref: 'global/db', config: { host: 'db.internal', pool: 10 }, message: 'first' });
await set({
  ref: 'global/db',
  config: { host: 'db.internal', pool: 20 },
  overrides: { staging: { pool: 25 } },
  message: 'bigger pool',
});
await set({
  ref: 'global/db',
  config: { host: 'db.internal', pool: 20, timeoutMs: 1500 },
  overrides: { staging: { pool: 25 } },
  message: 'timeouts',
});
await set({
  ref: 'app:checkout/payments',
  config: { provider: 'stripe', retries: 3, apiKey: { $secret: { provider: 'local', name: 'payments/stripe-key' } } },
  rollout: {
    description: 'retry budget',
    rules: [
      {
        id: 'retries',
        strategy: 'canary',
        patch: { retries: 5 },
        schedule: [500, 2500, 5000, 10000],
        step: 1,
        stepIntervalMinutes: 30,
        healthGate: { kind: 'prometheus', query: 'sum(rate(checkout_errors[5m]))', max: 0.01 },
      },
      { id: 'staff', strategy: 'immediate', patch: { debug: true }, when: { groups: ['staff'] } },
    ],
  },
  // As the agent's stepping writes it: the page shows the gate check it records.
  message: 'rollout retries: advanced to 2500 bps (sum(rate(checkout_errors[5m])) = 0.003 (allowed -inf..0.01))',
});
await set({
  ref: 'app:web/feature-flags',
  config: { theme: 'light' },
  rollout: { rules: [{ id: 'dark-theme', strategy: 'percentage', patch: { theme: 'dark' }, bps: 2000 }] },
});
for (const [i, id] of ['cache', 'search', 'mailer', 'queue', 'limits'].entries()) {
  await set({ ref: `app:web/${id}`, config: { enabled: true, n: i } });
  await set({ ref: `app:api/${id}`, config: { enabled: i % 2 === 0, n: i } });
}
for (const name of names)
  await provider.create(name, `value-of-${name}-${Math.random()}`, { labels: { team: 'docs' } });
await rotation.putPolicy(ROOT, {
  secret: { provider: 'local', name: 'payments/db-password' },
  intervalDays: 30,
  graceMs: 0,
});
await rotation.putPolicy(ROOT, {
  secret: { provider: 'local', name: 'payments/stripe-key' },
  intervalDays: 90,
  graceMs: 0,
});
await rotation.rotate(ROOT, { provider: 'local', name: 'payments/db-password' });
// Production guarded once seeded; then a change request waiting for approval.
await service.updateEnvironment(ROOT, {
  name: 'production',
  production: true,
  approvalPolicy: { requiredApprovals: 2 },
});
const request = await service.propose(ROOT, {
  ref: 'global/db',
  kind: 'set',
  config: { host: 'db.internal', pool: 40, timeoutMs: 1500 },
  overrides: { staging: { pool: 25 } },
  baseVersion: 3,
  message: 'pool 40 for the new nodes',
});

await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const executablePath = execFileSync('sh', [join(root, 'scripts/browser.sh'), 'path'], { encoding: 'utf8' }).trim();
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
mkdirSync(out, { recursive: true });

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const shot = async (name: string, path: string, ready: (p: Page) => Promise<unknown>) => {
    if (path !== '') await page.goto(`${base}/ui${path}`);
    await ready(page);
    await page.evaluate('document.activeElement instanceof HTMLElement && document.activeElement.blur()');
    const file = join(out, `${name}.png`);
    await page.screenshot({ path: file });
    process.stdout.write(`${file} ${Math.round(statSync(file).size / 1024)} KB\n`);
  };
  await shot('sign-in', '/', (p) => p.getByRole('heading', { name: 'Sign in to Summit Config' }).waitFor());
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in as').waitFor();
  await shot('configs', '/', (p) => p.locator('[role="option"]').first().waitFor());
  await shot('config', '/configs/global/db', (p) => p.locator('#resolved-summary').waitFor());
  await shot('approvals', '/approvals', (p) => p.getByRole('link', { name: /global\/db/ }).waitFor());
  await shot('change-request', `/approvals/${encodeURIComponent(request.id)}`, (p) =>
    p.getByRole('button', { name: 'Show unchanged paths' }).waitFor(),
  );
  await shot('audit', '/audit', (p) => p.locator('#audit-events').waitFor());
  await shot('status', '/status', (p) => p.getByText('Updated at').waitFor());
  await shot('environments', '/environments', (p) => p.locator('#environments').waitFor());
  await shot('rollouts', '/rollouts', (p) => p.locator('section[data-ref]').first().waitFor());
  await shot('secrets', '/secrets', async (p) => {
    await p.locator('#secrets').waitFor();
    await p.getByRole('button', { name: 'History of payments/db-password' }).click();
    await p.getByRole('table', { name: 'Versions of payments/db-password' }).waitFor();
  });
  await context.close();
} finally {
  await browser.close();
  await app.close();
  await rotation.close();
  await provider.close();
  await service.close();
  await store.close();
  await governance.close();
  rmSync(assetsDir, { recursive: true, force: true });
}
