/**
 * The console's cookie sessions (`/api/v1/session`, `sessions.ts`) over `inject`, every response
 * checked against the OpenAPI document: sign-in with a real API token, the cookie's attributes
 * (HttpOnly, SameSite=Strict, Secure and `__Host-` when asked), the CSRF token on state-changing
 * calls, sign-out ending the session on the server, a revoked token ending its sessions, what the
 * store keeps (no session id, no usable credential), a session store shared by two replicas, and
 * `console: false`.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigServer, createMemoryTokenStore, createTokenAuthenticator, type TokenStore } from '../src/index.js';
import {
  createMemorySessionStore,
  createSessionManager,
  type SessionRecord,
  type SessionStore,
} from '../src/sessions.js';
import { json, type ServerHarness, serverHarness, staticBearer, validateResponses } from './support.js';

let s: ServerHarness | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

/** A session store that remembers every record it was given (to look at what is kept). */
function recording(): { store: SessionStore; records: SessionRecord[] } {
  const inner = createMemorySessionStore();
  const records: SessionRecord[] = [];
  return {
    records,
    store: {
      put: async (r) => {
        records.push(r);
        await inner.put(r);
      },
      get: (h) => inner.get(h),
      delete: (h) => inner.delete(h),
      touch: (h, at) => inner.touch(h, at),
    },
  };
}

async function withTokens(options: Parameters<typeof serverHarness>[1] = {}) {
  const tokens: TokenStore = createMemoryTokenStore();
  const created = await tokens.create({ name: 'console', owner: 'root', roles: ['superuser'] });
  s = await serverHarness('memory', {
    authenticators: [createTokenAuthenticator(tokens), staticBearer()],
    ...options,
  });
  return { tokens, token: created.token, tokenId: created.record.id };
}

function cookieOf(res: { headers: Record<string, unknown> }): string {
  const set = res.headers['set-cookie'];
  const line = Array.isArray(set) ? (set[0] as string) : (set as string);
  return line;
}

const pair = (setCookie: string) => setCookie.split(';', 1)[0] as string;

describe('console sessions', () => {
  it('signs in with an API token; the cookie authenticates reads, and writes with the CSRF token only', async () => {
    const { token } = await withTokens();
    const app = s!.app;
    const signIn = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(signIn.statusCode).toBe(201);
    const body = json<{ principal: { id: string }; csrfToken: string; expiresAt: string }>(signIn);
    expect(body.principal.id).toBe('root');
    const setCookie = cookieOf(signIn);
    expect(setCookie).toMatch(/^summit_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    const cookie = pair(setCookie);

    const list = await app.inject({ url: '/api/v1/configs', headers: { cookie } });
    expect(list.statusCode).toBe(200);
    const session = await app.inject({ url: '/api/v1/session', headers: { cookie } });
    expect(json(session)).toMatchObject({ principal: { id: 'root' }, csrfToken: body.csrfToken });

    const put = (headers: Record<string, string>) =>
      app.inject({
        method: 'PUT',
        url: '/api/v1/configs/global/console-test',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        payload: { config: { on: true } },
      });
    const noCsrf = await put({});
    expect(noCsrf.statusCode).toBe(403);
    expect(json(noCsrf).code).toBe('ACCESS_DENIED');
    // Another token of the same length (its last character changed) is refused too.
    const wrong = `${body.csrfToken.slice(0, -1)}${body.csrfToken.endsWith('A') ? 'B' : 'A'}`;
    expect((await put({ 'x-csrf-token': wrong })).statusCode).toBe(403);
    expect(await s!.h.service.get({ id: 'root', roles: ['superuser'] }, 'global/console-test')).toBeUndefined();
    const ok = await put({ 'x-csrf-token': body.csrfToken });
    expect(ok.statusCode).toBe(201);
    // The write is the token's principal's, as with the bearer token itself.
    expect(json(ok).createdBy).toBe('root');

    // Sign-out needs the CSRF token too; then the same cookie is refused.
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie } })).statusCode).toBe(403);
    const out = await app.inject({
      method: 'DELETE',
      url: '/api/v1/session',
      headers: { cookie, 'x-csrf-token': body.csrfToken },
    });
    expect(out.statusCode).toBe(204);
    expect(cookieOf(out)).toMatch(/^summit_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/);
    const after = await app.inject({ url: '/api/v1/configs', headers: { cookie } });
    expect(after.statusCode).toBe(401);
    expect(after.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('refuses a bad token at sign-in, a session opened with a cookie, and forged or unknown cookies', async () => {
    const { token } = await withTokens();
    const app = s!.app;
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: 'Bearer sct_nope' },
    });
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['set-cookie']).toBeUndefined();
    const none = await app.inject({ method: 'POST', url: '/api/v1/session' });
    expect(none.statusCode).toBe(401);

    const signIn = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    const cookie = pair(cookieOf(signIn));
    const { csrfToken } = json<{ csrfToken: string }>(signIn);
    const again = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { cookie, 'x-csrf-token': csrfToken },
    });
    expect(again.statusCode).toBe(400);

    for (const forged of ['summit_session=abc', `summit_session=${'A'.repeat(43)}`]) {
      const res = await app.inject({ url: '/api/v1/configs', headers: { cookie: forged } });
      expect(res.statusCode).toBe(401);
    }
    // A bearer request ignores the cookie; GET /session says it carries no session.
    const bearer = await app.inject({
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}`, cookie: 'summit_session=abc' },
    });
    expect(bearer.statusCode).toBe(404);
  });

  it('ends the sessions of a revoked token at their next request', async () => {
    const { token, tokenId, tokens } = await withTokens();
    const app = s!.app;
    const signIn = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    const cookie = pair(cookieOf(signIn));
    expect((await app.inject({ url: '/api/v1/configs', headers: { cookie } })).statusCode).toBe(200);
    await tokens.revoke(tokenId, 'root');
    expect((await app.inject({ url: '/api/v1/configs', headers: { cookie } })).statusCode).toBe(401);
  });

  it('keeps neither the session id nor a usable credential in the store; a shared store serves two replicas', async () => {
    const { store, records } = recording();
    const { token, tokens, tokenId } = await withTokens({ console: { sessions: store } });
    const signIn = await s!.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    const cookie = pair(cookieOf(signIn));
    const id = cookie.split('=')[1] as string;
    expect(records).toHaveLength(1);
    const kept = JSON.stringify(records[0]);
    expect(kept).not.toContain(id);
    expect(kept).not.toContain(token);
    expect(kept).not.toContain(token.slice(`sct_${tokenId}_`.length));
    expect(records[0]?.idHash).toBe(createHash('sha256').update(id).digest('hex'));

    // A second replica over the same session store (and the same token store) knows the session;
    // one whose authenticators do not know the API token refuses it: the credential is checked there.
    const replica = (authenticators: Parameters<typeof createConfigServer>[0]['authenticators']) => {
      const app = createConfigServer({
        service: s!.h.service,
        store: s!.h.store,
        authenticators,
        console: { sessions: store },
      });
      validateResponses(app);
      return app;
    };
    const other = replica([createTokenAuthenticator(tokens)]);
    const stranger = replica([staticBearer()]);
    try {
      expect((await other.inject({ url: '/api/v1/configs', headers: { cookie } })).statusCode).toBe(200);
      expect((await stranger.inject({ url: '/api/v1/configs', headers: { cookie } })).statusCode).toBe(401);
    } finally {
      await other.close();
      await stranger.close();
    }
  });

  it('marks the cookie Secure with the __Host- prefix under TLS (or when asked), and accepts no cookie with console: false', async () => {
    const { token } = await withTokens({ console: { secureCookie: true, sessionTtlMs: 60_000 } });
    const signIn = await s!.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    const setCookie = cookieOf(signIn);
    expect(setCookie).toMatch(
      /^__Host-summit_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=60; Secure$/,
    );
    await s!.close();

    const off = await withTokens({ console: false });
    const app = s!.app;
    expect(
      (await app.inject({ method: 'POST', url: '/api/v1/session', headers: { authorization: `Bearer ${off.token}` } }))
        .statusCode,
    ).toBe(404);
    expect((await app.inject({ url: '/api/v1/configs', headers: { cookie: pair(setCookie) } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/ui/' })).statusCode).toBe(404);
  });

  it('keeps a watch stream opened with the cookie across heartbeats, and ends it once the token is revoked', async () => {
    const { token, tokenId, tokens } = await withTokens({ watch: { heartbeatMs: 50 } });
    const app = s!.app;
    const signIn = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    const cookie = pair(cookieOf(signIn));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/watch`, {
      headers: { cookie },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    let text = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          text += decoder.decode(chunk, { stream: true });
        }
      } catch {
        // aborted below
      }
    })();
    const until = async (check: () => boolean) => {
      for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(check()).toBe(true);
    };
    // Several heartbeats, each authenticating the session's credential again: the stream stays.
    await until(() => (text.match(/: heartbeat/g) ?? []).length >= 3);
    expect(text).not.toContain('no longer valid');
    await tokens.revoke(tokenId, 'root');
    await until(() => text.includes(': closing; the credential is no longer valid'));
    controller.abort();
    await reading;
  });

  it('ends a session idle for sessionIdleMs (deleted from the store); requests keep it alive, writing rarely', async () => {
    let now = Date.UTC(2026, 0, 1);
    const inner = createMemorySessionStore({ clock: () => now });
    const touches: number[] = [];
    const store: SessionStore = {
      ...inner,
      touch: async (h, at) => {
        touches.push(at);
        await inner.touch(h, at);
      },
    };
    const manager = createSessionManager({
      store,
      ttlMs: 8 * 3_600_000,
      idleTimeoutMs: 600_000,
      secure: false,
      clock: () => now,
    });
    const opened = await manager.create('Bearer sct_x', 'alice');
    expect(opened.principal).toBe('alice');
    // Requests every 20 s for an hour: never idle, and a touch at most every 30 s (a twentieth of 10 min).
    const start = now;
    for (let i = 0; i < 180; i++) {
      now += 20_000;
      expect(await manager.open(opened.id), `request ${i}`).toMatchObject({
        principal: 'alice',
        credential: 'Bearer sct_x',
      });
    }
    expect(touches.length).toBe(90);
    expect(touches.every((t, i) => t - (touches[i - 1] ?? start) >= 30_000)).toBe(true);
    // Ten minutes without a request (from the last one recorded): gone, and deleted from the store.
    const lastSeen = touches.at(-1) as number;
    now = lastSeen + 600_000 - 1;
    expect(await manager.open(opened.id)).toBeDefined();
    now += 600_000;
    expect(await manager.open(opened.id)).toBeUndefined();
    expect(await inner.get(createHash('sha256').update(opened.id).digest('hex'))).toBeUndefined();
  });

  it('audits sign-in and sign-out as the principal, with the credential named, never its secret; an idle session is refused', async () => {
    const { token, tokenId } = await withTokens({ console: { sessionIdleMs: 1000 } });
    const app = s!.app;
    const ROOT = { id: 'root', roles: ['superuser'] };
    const signIn = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(signIn.statusCode).toBe(201);
    const cookie = pair(cookieOf(signIn));
    const { csrfToken } = json<{ csrfToken: string }>(signIn);
    const out = await app.inject({
      method: 'DELETE',
      url: '/api/v1/session',
      headers: { cookie, 'x-csrf-token': csrfToken },
    });
    expect(out.statusCode).toBe(204);
    // Signing out twice (the cookie is gone) records nothing more.
    await app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { cookie, 'x-csrf-token': csrfToken } });
    const events = (await s!.h.service.audit(ROOT, {})).filter((e) => e.action.startsWith('session.'));
    expect(events.map((e) => [e.action, e.actor, e.source, e.origin?.tokenId])).toEqual([
      ['session.sign-in', 'root', 'api', tokenId],
      ['session.sign-out', 'root', 'api', tokenId],
    ]);
    expect(JSON.stringify(events)).not.toContain(token);
    expect((await s!.h.service.verifyAudit(ROOT)).ok).toBe(true);

    // A session left alone for longer than sessionIdleMs is refused at its next request.
    const again = await app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    const idle = pair(cookieOf(again));
    expect((await app.inject({ url: '/api/v1/configs', headers: { cookie: idle } })).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await app.inject({ url: '/api/v1/configs', headers: { cookie: idle } })).statusCode).toBe(401);
  });

  it('refuses to open a session the audit trail cannot record', async () => {
    const { token } = await withTokens();
    await s!.h.governance.close();
    const res = await s!.app.inject({
      method: 'POST',
      url: '/api/v1/session',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('checks its options', async () => {
    const h = await serverHarness('memory');
    s = h;
    const base = { service: h.h.service, authenticators: [staticBearer()] };
    expect(() => createConfigServer({ ...base, console: { sessionTtlMs: 10 } })).toThrow(/console.sessionTtlMs/);
    expect(() => createConfigServer({ ...base, console: { sessionIdleMs: 999 } })).toThrow(/console.sessionIdleMs/);
    expect(() => createConfigServer({ ...base, console: { sessions: {} as SessionStore } })).toThrow(
      /console.sessions/,
    );
    expect(() => createConfigServer({ ...base, console: { assetsDir: '' } })).toThrow(/console.assetsDir/);
  });
});
