/**
 * The console's OIDC sign-in in a real browser: Debian's Chromium driven by playwright-core, a real
 * config server on 127.0.0.1 serving the console built by Vite, and a real OpenID provider
 * (oidc-provider, `../oidc/provider.ts`) with a browser client: authorization code, PKCE required,
 * its development login and consent pages. The server's only authenticator is the OIDC one (the
 * provider found by discovery, `groups` mapped to roles), so a session can only come from the flow.
 */
import { createServer } from 'node:net';
import { isConfigError } from '@summit-config/core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createConfigServer, createOidcAuthenticator } from '../../src/index.js';
import { OIDC_CALLBACK_PATH, OIDC_LOGIN_PATH } from '../../src/routes/oidc-login.js';
import { AUDIENCE, LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET, startProvider, type TestProvider } from '../oidc/provider.js';
import { type ServerHarness, serverHarness } from '../support.js';
import { axeViolations, type ConsoleRig, consoleRig, openPage } from './browser.js';

// A real browser on a machine shared with every other suite: generous time per test and hook.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

let provider: TestProvider;
let browser: Browser;
let assetsDir: string;
let rig: ConsoleRig | undefined;
/** Signs in through the provider; its authenticator maps `cfg-admins` to `superuser`. */
let s: ServerHarness;
let base: string;
/** The same provider, but an authenticator expecting another audience: every token is refused. */
let strict: ServerHarness;
let strictBase: string;
/** A provider nobody answers for. */
let lost: ServerHarness;
let lostBase: string;

/** A free port on 127.0.0.1 (the provider must know the redirect URIs before the servers listen). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const MAPPING = { claim: 'groups', roles: { 'cfg-admins': ['superuser'] } };

async function consoleServer(issuer: string, audience: string, port: number): Promise<ServerHarness> {
  const oidc = createOidcAuthenticator({ issuer, audience, discovery: true, roleMapping: MAPPING });
  const h = await serverHarness('memory', {
    authenticators: [oidc],
    console: { assetsDir },
    oidcLogin: {
      issuer,
      clientId: LOGIN_CLIENT_ID,
      clientSecret: LOGIN_CLIENT_SECRET,
      scopes: ['openid', 'config'],
      name: 'Test IdP',
    },
  });
  await h.app.listen({ host: '127.0.0.1', port });
  return h;
}

beforeAll(async () => {
  rig = await consoleRig();
  ({ assetsDir, browser } = rig);
  const [port, strictPort, lostPort, closedPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  base = `http://127.0.0.1:${port}`;
  strictBase = `http://127.0.0.1:${strictPort}`;
  lostBase = `http://127.0.0.1:${lostPort}`;
  provider = await startProvider({
    authorizationCode: {
      redirectUris: [`${base}${OIDC_CALLBACK_PATH}`, `${strictBase}${OIDC_CALLBACK_PATH}`],
      accountGroups: { alice: ['cfg-admins', 'everyone'] },
    },
  });
  s = await consoleServer(provider.issuer, AUDIENCE, port);
  strict = await consoleServer(provider.issuer, 'https://another.summit.test', strictPort);
  lost = await consoleServer(`http://127.0.0.1:${closedPort}`, AUDIENCE, lostPort);
  await s.h.service.set({ id: 'root', roles: ['superuser'] }, { ref: 'global/db', config: { pool: 5 } });
}, 180_000);

afterAll(async () => {
  await rig?.close();
  for (const h of [s, strict, lost]) await h?.close();
  await provider?.close();
});

/** The console's own cookies for an origin (the provider's, on the same host, are left out). */
const summitCookies = (origin: string) => async (context: BrowserContext) =>
  (await context.cookies(origin)).filter((c) => c.name.includes('summit'));

const oidcButton = (page: Page) => page.getByRole('button', { name: 'Sign in with Test IdP', exact: true });

/** Clicks the console's OIDC button and logs in at the provider's page as `login`. */
async function loginAtProvider(page: Page, login: string): Promise<void> {
  await oidcButton(page).click();
  await page.waitForURL((url) => url.origin === provider.issuer);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  // The consent page (its only action is Continue).
  await page.getByRole('button', { name: 'Continue' }).click();
}

describe('OIDC sign-in to the console in Chromium', () => {
  it('signs in at the provider, lands on /ui with the mapped principal, and signs out on the server', async () => {
    const { context, page, problems } = await openPage(browser);
    try {
      await page.goto(`${base}/ui/`);
      await expect.poll(() => oidcButton(page).count()).toBe(1);
      // The paste-a-token form is still there, and the page passes axe with both.
      expect(await page.getByLabel('API token').count()).toBe(1);
      expect(await axeViolations(page)).toEqual([]);

      // The callback the provider sent the browser to, and the flow cookie that came with it.
      const callbacks: Array<{ url: string; cookie: string }> = [];
      page.on('request', async (r) => {
        if (r.url().startsWith(`${base}${OIDC_CALLBACK_PATH}`)) {
          callbacks.push({ url: r.url(), cookie: (await r.allHeaders()).cookie ?? '' });
        }
      });
      await loginAtProvider(page, 'alice');
      await page.waitForURL(`${base}/ui/`);
      await expect.poll(() => page.getByText('Signed in as').textContent()).toContain('alice');
      await expect.poll(() => page.getByRole('option', { name: /global\/db/ }).count()).toBe(1);

      // The session cookie as a pasted token's; the flow cookie is gone.
      const cookies = await summitCookies(base)(context);
      expect(cookies.map((c) => c.name)).toEqual(['summit_session']);
      expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
      const session = await page.evaluate<{ principal: { id: string; roles: string[] } }>(
        "fetch('/api/v1/session').then((r) => r.json())",
      );
      expect(session.principal).toEqual({ id: 'alice', roles: ['superuser'] });
      const whoami = await page.evaluate<{ method: string }>("fetch('/api/v1/whoami').then((r) => r.json())");
      expect(whoami).toMatchObject({ id: 'alice', method: 'oidc' });
      expect(await axeViolations(page)).toEqual([]);

      // Replayed with its flow cookie, the same answer opens nothing: the code was used once.
      expect(callbacks).toHaveLength(1);
      const [answer] = callbacks as [{ url: string; cookie: string }];
      expect(new URL(answer.url).searchParams.get('code')).toBeTruthy();
      expect(answer.cookie).toMatch(/summit_oidc=/);
      const replay = await fetch(answer.url, { headers: { cookie: answer.cookie }, redirect: 'manual' });
      expect(replay.status).toBe(303);
      expect(replay.headers.get('location')).toBe('/ui/?signin_error=exchange_failed');
      expect(replay.headers.get('set-cookie')).not.toContain('summit_session=');

      const cookie = `summit_session=${cookies[0]?.value}`;
      expect((await fetch(`${base}/api/v1/configs`, { headers: { cookie } })).status).toBe(200);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await expect.poll(() => oidcButton(page).count()).toBe(1);
      expect(await summitCookies(base)(context)).toEqual([]);
      expect((await fetch(`${base}/api/v1/configs`, { headers: { cookie } })).status).toBe(401);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('refuses a tampered state: nothing is signed in, and the flow cannot be finished', async () => {
    const { context, page } = await openPage(browser);
    try {
      // The server's redirect to the provider is altered on its way: another state goes out.
      let sent = '';
      const start = (url: URL) => url.origin === base && url.pathname === OIDC_LOGIN_PATH;
      await page.route(start, async (route) => {
        const response = await route.fetch({ maxRedirects: 0 });
        const location = new URL(response.headers().location as string);
        sent = location.searchParams.get('state') as string;
        location.searchParams.set('state', `${sent.slice(0, -1)}${sent.endsWith('A') ? 'B' : 'A'}`);
        await route.fulfill({ response, headers: { ...response.headers(), location: location.href } });
      });
      await page.goto(`${base}/ui/`);
      await loginAtProvider(page, 'alice');
      await page.waitForURL(`${base}/ui/`);
      expect(sent).not.toBe('');
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('state mismatch');
      expect(await summitCookies(base)(context)).toEqual([]);
      expect(await page.evaluate<number>("fetch('/api/v1/session').then((r) => r.status)")).toBe(401);
      expect(await axeViolations(page)).toEqual([]);

      // The answer cannot be replayed with the state that was sent either: the flow was ended.
      await page.goto(`${base}${OIDC_CALLBACK_PATH}?code=anything&state=${encodeURIComponent(sent)}`);
      await page.waitForURL(`${base}/ui/`);
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('expired or was started in another');
      expect(await summitCookies(base)(context)).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('says so when consent is cancelled, the provider is unreachable, or the server refuses its token', async () => {
    const { context, page, problems } = await openPage(browser);
    try {
      await page.goto(`${base}/ui/`);
      await oidcButton(page).click();
      await page.waitForURL((url) => url.origin === provider.issuer);
      await page.getByRole('link', { name: '[ Cancel ]' }).click();
      await page.waitForURL(`${base}/ui/`);
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('cancelled at the provider');
      expect(await page.evaluate<string>('location.search')).toBe('');
      expect(await summitCookies(base)(context)).toEqual([]);

      await page.goto(`${lostBase}/ui/`);
      await oidcButton(page).click();
      await page.waitForURL(`${lostBase}/ui/`);
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('could not be reached');
      expect(await summitCookies(lostBase)(context)).toEqual([]);

      // Signed in at the provider, but the token's audience is not this server's: no session.
      await page.goto(`${strictBase}/ui/`);
      await oidcButton(page).click();
      await page.waitForURL((url) => url.origin === provider.issuer || url.href.startsWith(strictBase));
      // The provider still has alice's session and consent from before (or asks again).
      if (new URL(page.url()).origin === provider.issuer) {
        const login = page.locator('input[name="login"]');
        if ((await login.count()) > 0) {
          await login.fill('alice');
          await page.locator('input[name="password"]').fill('any password');
          await page.getByRole('button', { name: 'Sign-in' }).click();
        }
        await page.getByRole('button', { name: 'Continue' }).click();
      }
      await page.waitForURL(`${strictBase}/ui/`);
      await expect.poll(() => page.getByRole('alert').textContent()).toContain('does not accept its token');
      expect(await summitCookies(strictBase)(context)).toEqual([]);
      // A sentence, never a stack trace.
      expect(await page.getByRole('alert').textContent()).not.toMatch(/\n\s+at |Error: .*Error/);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('answers the flow routes without a credential, and a callback without its cookie starts nothing', async () => {
    expect(await (await fetch(`${base}/api/v1/session/oidc/config`)).json()).toEqual({
      enabled: true,
      name: 'Test IdP',
      loginUrl: '/api/v1/session/oidc',
    });
    const start = await fetch(`${base}/api/v1/session/oidc`, { redirect: 'manual' });
    expect(start.status).toBe(303);
    const target = new URL(start.headers.get('location') as string);
    expect(target.origin).toBe(provider.issuer);
    expect(Object.fromEntries(target.searchParams)).toMatchObject({
      client_id: LOGIN_CLIENT_ID,
      response_type: 'code',
      code_challenge_method: 'S256',
      redirect_uri: `${base}${OIDC_CALLBACK_PATH}`,
      scope: 'openid config',
    });
    const flow = start.headers.get('set-cookie') ?? '';
    expect(flow).toMatch(
      /^summit_oidc=[A-Za-z0-9_-]+; Path=\/api\/v1\/session\/oidc; HttpOnly; SameSite=Lax; Max-Age=600$/,
    );
    // The cookie holds neither the verifier's challenge input in clear nor the state.
    expect(flow).not.toContain(target.searchParams.get('state') as string);

    const orphan = await fetch(`${base}${OIDC_CALLBACK_PATH}?code=x&state=y`, { redirect: 'manual' });
    expect(orphan.status).toBe(303);
    expect(orphan.headers.get('location')).toBe('/ui/?signin_error=no_flow');
    expect(orphan.headers.get('set-cookie')).toContain('Max-Age=0');

    const off = await serverHarness('memory', { console: { assetsDir } });
    try {
      await off.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = off.app.server.address() as { port: number };
      expect(await (await fetch(`http://127.0.0.1:${port}/api/v1/session/oidc/config`)).json()).toEqual({
        enabled: false,
      });
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/session/oidc`, { redirect: 'manual' })).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('checks its options: a typed CONSTRAINT_VIOLATION naming the field', () => {
    const refused = (oidcLogin: Record<string, unknown>, more: Record<string, unknown> = {}) => {
      try {
        createConfigServer({
          service: s.h.service,
          authenticators: [async () => undefined],
          oidcLogin,
          ...more,
        } as never);
      } catch (error) {
        expect(isConfigError(error, 'CONSTRAINT_VIOLATION')).toBe(true);
        return (error as Error).message;
      }
      throw new Error(`accepted ${JSON.stringify(oidcLogin)}`);
    };
    const good = { issuer: provider.issuer, clientId: 'c' };
    expect(refused({ ...good, issuer: 'http://idp.example.com' })).toMatch(/oidcLogin\.issuer/);
    expect(refused({ ...good, clientId: '' })).toMatch(/oidcLogin\.clientId/);
    expect(refused({ ...good, scopes: ['profile'] })).toMatch(/oidcLogin\.scopes must include openid/);
    expect(refused({ ...good, redirectUri: 'http://127.0.0.1/elsewhere' })).toMatch(/oidcLogin\.redirectUri/);
    expect(refused({ ...good, authorizationParams: { state: 'x' } })).toMatch(/authorizationParams\.state/);
    expect(refused({ ...good, tokenEndpointAuthMethod: 'client_secret_post' })).toMatch(/oidcLogin\.clientSecret/);
    expect(refused(good, { console: false })).toMatch(/oidcLogin needs the console/);
  });
});
