/**
 * `pnpm bench console`: the web console in a real Chromium (Debian's, driven by playwright-core as
 * the console tests drive it) against a config server on 127.0.0.1 in this process: the change
 * service over the memory store and governance (the console's own cost, not a database's), real API
 * tokens, 10 000 refs, a guarded `production` needing one approval. Freshly built with Vite.
 *
 * - **First load**: the JavaScript `/ui/` loads (before sign-in), each script's bytes gzipped
 *   (zlib level 9, as a server or CDN would serve it); goal at most 200 KB. The lazy editor chunk is
 *   reported apart (it loads only when Edit is opened).
 * - **Time to interactive of the configs page with 10 000 refs**: from navigation start
 *   (`performance.timeOrigin` of a signed-in load of `/ui/`) to the first frame painted after the
 *   list's first row (`[role=option]`) is in the focusable listbox: a MutationObserver installed
 *   before the page's scripts (DevTools' init script: the page's CSP still holds) sees the row, then
 *   `requestAnimationFrame` + `setTimeout(0)` marks `summit:configs-interactive` once that frame is
 *   painted and the main thread is free. The row is then checked visible and the listbox's
 *   `aria-setsize` checked to be the whole list. Median of the runs; goal under 1 s.
 *   Anchor, in the same page and run, interleaved: a bare `fetch('/api/v1/configs')` + `json()`
 *   (the data the page needs, without rendering it).
 * - **Approval to audit**: alice proposes a production change through the API; bob clicks Approve on
 *   the request's page while alice watches the audit page filtered by the ref, re-submitting the
 *   filter (Enter) until the `request.approve` row by bob shows. Time from the click to that row.
 *   Anchor: the same over the API alone (POST approve, then GET audit?ref= until the event is there).
 *
 * BENCH_RUNS sets the runs per measurement (default 7). Prints one JSON object as its last line; it
 * reports figures and the goals, it does not judge them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { type Actor, createConfigService, createRbac } from '@summit-config/core';
import { createConfigServer, createMemoryTokenStore, createTokenAuthenticator } from '@summit-config/server';
// playwright-core is the server package's dev dependency (its browser tests): borrowed from there.
import type * as Playwright from '../packages/server/node_modules/playwright-core/index.js';
import { percentile, round } from './_measure.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(join(root, 'packages/server/package.json'))('playwright-core') as typeof Playwright;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const REFS = 10_000;
const median = (xs: number[]) => percentile(xs, 50);
const gz = (b: Buffer) => gzipSync(b, { level: 9 }).length;

// ---- The server ----
const ADMIN: Actor = { id: 'root', roles: ['superuser'] };
const rbac = createRbac({
  roles: {
    superuser: ['*'],
    approver: ['approval:approve', 'approval:apply', 'config:read', 'config:list', 'config:audit:read'],
  },
  bindings: [],
});
const store = createMemoryStore();
const governance = createMemoryGovernance();
const service = createConfigService({
  store,
  governance,
  rbac,
  environments: [
    { name: 'development', production: false },
    { name: 'production', production: false },
  ],
});
const tokens = createMemoryTokenStore();
const alice = (await tokens.create({ name: 'bench', owner: 'alice', roles: ['superuser'] })).token;
const bob = (await tokens.create({ name: 'bench', owner: 'bob', roles: ['approver'] })).token;

const assetsDir = mkdtempSync(join(tmpdir(), 'summit-console-bench-'));
execFileSync(
  join(root, 'node_modules/.bin/vite'),
  ['build', join(root, 'packages/console'), '--outDir', assetsDir, '--emptyOutDir'],
  {
    stdio: 'pipe',
  },
);
const app = createConfigServer({
  service,
  store,
  authenticators: [createTokenAuthenticator(tokens)],
  rateLimit: false,
  console: { assetsDir },
});

const seedStart = performance.now();
for (let i = 0; i < REFS; i += 250) {
  await Promise.all(
    Array.from({ length: Math.min(250, REFS - i) }, (_, k) =>
      service.set(ADMIN, {
        ref: `app:bulk-${(i + k) % 50}/item-${String(i + k).padStart(5, '0')}`,
        config: { n: i + k },
      }),
    ),
  );
}
for (let run = 0; run <= RUNS; run++) {
  await service.set(ADMIN, { ref: `global/approved-${run}`, config: { n: 0 } });
  await service.set(ADMIN, { ref: `global/anchor-${run}`, config: { n: 0 } });
}
// Guarded once seeded (a new ref touches every environment).
await service.updateEnvironment(ADMIN, {
  name: 'production',
  production: true,
  approvalPolicy: { requiredApprovals: 1 },
});
const seedMs = performance.now() - seedStart;
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

const api = async <T>(token: string, method: string, path: string, body?: unknown): Promise<T> => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
};

const executablePath = execFileSync('sh', [join(root, 'scripts/browser.sh'), 'path'], { encoding: 'utf8' }).trim();
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const version = browser.version();

async function signedIn(token: string): Promise<{ context: Playwright.BrowserContext; page: Playwright.Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Signed in as').waitFor();
  return { context, page };
}

try {
  // ---- First load ----
  const first = await browser.newContext();
  const firstPage = await first.newPage();
  const scripts: Array<Promise<Buffer>> = [];
  firstPage.on('response', (r) => {
    if (r.request().resourceType() === 'script') scripts.push(r.body());
  });
  await firstPage.goto(`${base}/ui/`, { waitUntil: 'networkidle' });
  await firstPage.getByRole('heading', { name: 'Sign in to Summit Config' }).waitFor();
  const bodies = await Promise.all(scripts);
  await first.close();
  const assets = readdirSync(join(assetsDir, 'assets'));
  const chunk = assets.find((f) => f.startsWith('codemirror') && f.endsWith('.js'));
  const editorGzip = chunk ? gz(readFileSync(join(assetsDir, 'assets', chunk))) : 0;

  // ---- Time to interactive of the configs page, 10 000 refs ----
  const { context, page } = await signedIn(alice);
  await context.addInitScript(`(() => {
    let resolve;
    window.__interactive = new Promise((r) => { resolve = r; });
    const seen = () => {
      const row = document.querySelector('[role="listbox"][tabindex="0"] [role="option"]');
      if (!row) return false;
      window.__firstRowMs = performance.now();
      requestAnimationFrame(() => setTimeout(() => {
        window.__interactiveMs = performance.now();
        performance.mark('summit:configs-interactive');
        resolve(window.__interactiveMs);
      }, 0));
      return true;
    };
    const observer = new MutationObserver(() => { if (seen()) observer.disconnect(); });
    observer.observe(document, { childList: true, subtree: true });
  })()`);
  const tti: number[] = [];
  const firstRow: number[] = [];
  const anchor: number[] = [];
  let setSize = 0;
  for (let run = 0; run <= RUNS; run++) {
    await page.goto(`${base}/ui/`);
    await page.evaluate('window.__interactive');
    const m = await page.evaluate<{ tti: number; row: number; size: number; visible: boolean }>(`(() => {
      const row = document.querySelector('[role="listbox"] [role="option"]');
      const r = row.getBoundingClientRect();
      return { tti: window.__interactiveMs, row: window.__firstRowMs, size: Number(row.getAttribute('aria-setsize')),
        visible: r.height > 0 && r.top >= 0 && r.top < innerHeight };
    })()`);
    if (!m.visible) throw new Error('the first row is not visible');
    setSize = m.size;
    // The anchor: the same list fetched and parsed, nothing rendered.
    const fetched = await page.evaluate<number>(`(async () => {
      const t = performance.now();
      const r = await fetch('/api/v1/configs', { headers: { accept: 'application/json' } });
      const body = await r.json();
      if (body.items.length < ${REFS}) throw new Error('short list');
      return performance.now() - t;
    })()`);
    if (run === 0) continue; // warm-up
    tti.push(m.tti);
    firstRow.push(m.row);
    anchor.push(fetched);
  }
  await context.close();

  // ---- Approval click to the audit page ----
  const watcher = await signedIn(alice);
  const approver = await signedIn(bob);
  const toAudit: number[] = [];
  const clickToDecision: number[] = [];
  const apiAnchor: number[] = [];
  const propose = async (ref: string) =>
    (
      await api<{ id: string }>(alice, 'POST', '/api/v1/change-requests', {
        ref,
        kind: 'set',
        config: { n: 1 },
        baseVersion: 1,
      })
    ).id;
  const approvals = (page: Playwright.Page) => page.locator('#audit-events tbody tr', { hasText: 'request.approve' });
  for (let run = 0; run <= RUNS; run++) {
    const ref = `global/approved-${run}`;
    const id = await propose(ref);
    await watcher.page.goto(`${base}/ui/audit`);
    await watcher.page.getByLabel('Ref').fill(ref);
    await watcher.page.getByLabel('Ref').press('Enter');
    await watcher.page
      .locator('#audit-count')
      .filter({ hasText: /^\d+ event/ })
      .waitFor();
    if ((await approvals(watcher.page).count()) !== 0) throw new Error('an approval is already in the trail');
    await approver.page.goto(`${base}/ui/approvals/${encodeURIComponent(id)}`);
    const approve = approver.page.getByRole('button', { name: 'Approve', exact: true });
    await approve.waitFor();
    const t0 = performance.now();
    await approve.click();
    const decided = approver.page
      .getByText(/^Approved\. The request is/)
      .waitFor()
      .then(() => performance.now());
    // Alice re-submits the filter until bob's approval shows (each submit reloads the events).
    for (;;) {
      await watcher.page.getByLabel('Ref').press('Enter');
      await watcher.page
        .locator('#audit-count')
        .filter({ hasText: /^\d+ event/ })
        .waitFor();
      if ((await approvals(watcher.page).filter({ hasText: 'bob' }).count()) > 0) break;
      if (performance.now() - t0 > 30_000) throw new Error('the approval never reached the audit page');
    }
    const t1 = performance.now();
    const t2 = await decided;

    // The anchor: the same approval over the API alone, then the audit query until it is there.
    const anchorRef = `global/anchor-${run}`;
    const id2 = await propose(anchorRef);
    const a0 = performance.now();
    await api(bob, 'POST', `/api/v1/change-requests/${encodeURIComponent(id2)}/approve`, {});
    for (;;) {
      const { items } = await api<{ items: Array<{ action: string }> }>(
        alice,
        'GET',
        `/api/v1/audit?ref=${encodeURIComponent(anchorRef)}`,
      );
      if (items.some((e) => e.action === 'request.approve')) break;
    }
    const a1 = performance.now();
    if (run === 0) continue; // warm-up
    toAudit.push(t1 - t0);
    clickToDecision.push(t2 - t0);
    apiAnchor.push(a1 - a0);
  }

  const result = {
    bench: 'console',
    chromium: version,
    runs: RUNS,
    refs: setSize,
    seed_ms: round(seedMs, 0),
    first_load_scripts: bodies.length,
    first_load_js_bytes: bodies.reduce((n, b) => n + b.length, 0),
    first_load_js_gzip_bytes: bodies.reduce((n, b) => n + gz(b), 0),
    first_load_goal_gzip_bytes: 200 * 1024,
    editor_chunk_gzip_bytes: editorGzip,
    configs_tti_ms_p50: round(median(tti), 1),
    configs_tti_ms_max: round(Math.max(...tti), 1),
    configs_first_row_ms_p50: round(median(firstRow), 1),
    configs_tti_goal_ms: 1000,
    anchor_fetch_configs_ms_p50: round(median(anchor), 1),
    tti_vs_fetch_anchor: round(median(tti) / median(anchor), 2),
    approval_click_to_audit_ms_p50: round(median(toAudit), 1),
    approval_click_to_audit_ms_max: round(Math.max(...toAudit), 1),
    approval_click_to_decision_shown_ms_p50: round(median(clickToDecision), 1),
    anchor_api_approve_to_audit_ms_p50: round(median(apiAnchor), 1),
  };
  await watcher.context.close();
  await approver.context.close();
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
  await app.close();
  await service.close();
  await store.close();
  await governance.close();
  rmSync(assetsDir, { recursive: true, force: true });
}
