/**
 * `POST /api/v1/gitops/webhook` over a real listening socket (Node's fetch), with deliveries signed
 * the way GitHub (HMAC-SHA256 of the raw body in `X-Hub-Signature-256`) and GitLab (`X-Gitlab-Token`)
 * sign them, on push payloads shaped like their documentation's samples (test/fixtures): accepted
 * pushes reach `onPush` once with the branch, commit and repository; bad signatures, replays,
 * malformed payloads and ignored events never do; the replay memory has a window and a bound; the
 * route has its own rate limit and is in the OpenAPI document without bearer security.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isConfigError } from '@summit-config/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigServerOptions } from '../src/index.js';
import type { GitopsWebhookOptions, GitPushEvent } from '../src/routes/gitops-webhook.js';
import { json, type ServerHarness, serverHarness } from './support.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const GITHUB_PUSH = readFileSync(join(FIXTURES, 'github-push.json'), 'utf8');
const GITLAB_PUSH = readFileSync(join(FIXTURES, 'gitlab-push.json'), 'utf8');
const SECRET = 'a-webhook-secret-of-some-length';
const PATH = '/api/v1/gitops/webhook';

let s: ServerHarness | undefined;
let base = '';
let pushes: GitPushEvent[] = [];

afterEach(async () => {
  await s?.close();
  s = undefined;
});

async function serve(
  webhook: Partial<GitopsWebhookOptions> | undefined,
  extra: Partial<ConfigServerOptions> = {},
): Promise<void> {
  pushes = [];
  const gitopsWebhook =
    webhook === undefined
      ? undefined
      : {
          secret: SECRET,
          onPush: (event: GitPushEvent) => {
            pushes.push(event);
          },
          ...webhook,
        };
  s = await serverHarness('memory', { ...(gitopsWebhook ? { gitopsWebhook } : {}), ...extra });
  await s.app.listen({ host: '127.0.0.1', port: 0 });
  const address = s.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  base = `http://127.0.0.1:${address.port}`;
}

/** GitHub's signature header for `body` under `secret`. */
function githubSignature(body: string, secret = SECRET): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

async function post(body: string, headers: Record<string, string>) {
  const res = await fetch(`${base}${PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, res };
}

function github(body: string, options: { event?: string; delivery?: string; signature?: string } = {}) {
  return post(body, {
    'x-github-event': options.event ?? 'push',
    'x-github-delivery': options.delivery ?? randomUUID(),
    'x-hub-signature-256': options.signature ?? githubSignature(body),
    'user-agent': 'GitHub-Hookshot/abc123',
  });
}

function gitlab(body: string, options: { event?: string; token?: string; headers?: Record<string, string> } = {}) {
  return post(body, {
    'x-gitlab-event': options.event ?? 'Push Hook',
    'x-gitlab-token': options.token ?? SECRET,
    ...(options.headers ?? { 'x-gitlab-event-uuid': randomUUID(), 'idempotency-key': randomUUID() }),
  });
}

/** The GitHub sample with some fields replaced. */
function githubPush(patch: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(GITHUB_PUSH), ...patch });
}

describe('GitHub deliveries', () => {
  it('accepts a signed push: 202, onPush once with the branch, commit and repository', async () => {
    await serve({});
    const delivery = randomUUID();
    const r = await github(GITHUB_PUSH, { delivery });
    expect(r.status, r.text).toBe(202);
    expect(r.body).toEqual({
      accepted: true,
      provider: 'github',
      deliveryId: delivery,
      ref: 'refs/heads/main',
      branch: 'main',
      after: '59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5',
    });
    expect(pushes).toEqual([
      {
        provider: 'github',
        deliveryId: delivery,
        ref: 'refs/heads/main',
        branch: 'main',
        after: '59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5',
        before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
        repository: {
          fullName: 'Codertocat/config-repo',
          url: 'https://github.com/Codertocat/config-repo',
          cloneUrls: ['https://github.com/Codertocat/config-repo.git', 'git@github.com:Codertocat/config-repo.git'],
        },
        receivedAt: expect.any(String),
      },
    ]);
  });

  it("verifies GitHub's documented test vector (a ping is then ignored, 204)", async () => {
    // docs.github.com, "Validating webhook deliveries": this secret and payload give this signature.
    const secret = "It's a Secret to Everybody";
    const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    await serve({ secret });
    expect(githubSignature('Hello, World!', secret)).toBe(signature);
    expect((await github('Hello, World!', { event: 'ping', signature })).status).toBe(204);
    expect((await github('Hello, World!', { event: 'ping', signature: githubSignature('Hello, World!') })).status).toBe(
      401,
    );
    expect(pushes).toEqual([]);
  });

  it('refuses a bad, missing or malformed signature and a tampered body: 401, onPush never called', async () => {
    await serve({});
    const tampered = GITHUB_PUSH.replace('"deleted": false', '"deleted": true ');
    const cases = [
      github(GITHUB_PUSH, { signature: githubSignature(GITHUB_PUSH, 'another-secret-entirely') }),
      github(tampered, { signature: githubSignature(GITHUB_PUSH) }),
      github(GITHUB_PUSH, { signature: githubSignature(GITHUB_PUSH).replace('sha256=', 'sha1=') }),
      github(GITHUB_PUSH, { signature: 'sha256=zz' }),
      post(GITHUB_PUSH, { 'x-github-event': 'push', 'x-github-delivery': randomUUID() }),
      // No provider headers at all.
      post(GITHUB_PUSH, {}),
    ];
    for (const r of await Promise.all(cases)) {
      expect(r.status, r.text).toBe(401);
      expect(r.body).toMatchObject({ code: 'ACCESS_DENIED', status: 401 });
    }
    expect(pushes).toEqual([]);
  });

  it('refuses a replayed delivery id with 409; another id with the same body is a new delivery', async () => {
    await serve({});
    const delivery = randomUUID();
    expect((await github(GITHUB_PUSH, { delivery })).status).toBe(202);
    const again = await github(GITHUB_PUSH, { delivery });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'REPLAYED' });
    expect(pushes).toHaveLength(1);
    expect((await github(GITHUB_PUSH)).status).toBe(202);
    expect(pushes).toHaveLength(2);
  });

  it('accepts the form content type (payload=<json>), signed over the form body', async () => {
    await serve({});
    const form = new URLSearchParams({ payload: GITHUB_PUSH }).toString();
    const r = await post(form, {
      'content-type': 'application/x-www-form-urlencoded',
      'x-github-event': 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': githubSignature(form),
    });
    expect(r.status, r.text).toBe(202);
    expect(pushes.map((p) => p.after)).toEqual(['59b20b8d5c6ff8d09518454d4dd8b7a30f095ab5']);
  });

  it('ignores (204) other events, tags, deleted branches and branches not followed', async () => {
    await serve({ branches: ['main', 'release'] });
    const ignored = [
      await github(GITHUB_PUSH, { event: 'pull_request' }),
      await github(githubPush({ ref: 'refs/tags/v1.0.0' })),
      await github(githubPush({ ref: 'refs/heads/feature/x' })),
      await github(githubPush({ after: '0000000000000000000000000000000000000000', deleted: true })),
    ];
    expect(ignored.map((r) => r.status)).toEqual([204, 204, 204, 204]);
    expect(ignored.every((r) => r.text === '')).toBe(true);
    expect((await github(githubPush({ ref: 'refs/heads/release' }))).status).toBe(202);
    expect(pushes.map((p) => p.branch)).toEqual(['release']);
  });

  it('refuses malformed deliveries with 400: no delivery id, not JSON, no ref, no commit, no repository', async () => {
    await serve({});
    const noId = await post(GITHUB_PUSH, {
      'x-github-event': 'push',
      'x-hub-signature-256': githubSignature(GITHUB_PUSH),
    });
    const broken = [
      noId,
      await github('{"ref": "refs/heads/main", '),
      await github(githubPush({ ref: undefined })),
      await github(githubPush({ after: 'not-a-sha' })),
      await github(githubPush({ repository: undefined })),
      await github(githubPush({ repository: { name: 'no-urls' } })),
    ];
    for (const r of broken) {
      expect(r.status, r.text).toBe(400);
      expect(r.body).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    }
    expect(pushes).toEqual([]);
  });
});

describe('GitLab deliveries', () => {
  it('accepts a push with the right token: 202, onPush with the project URLs', async () => {
    await serve({});
    const key = randomUUID();
    const r = await gitlab(GITLAB_PUSH, { headers: { 'idempotency-key': key, 'x-gitlab-event-uuid': randomUUID() } });
    expect(r.status, r.text).toBe(202);
    expect(pushes).toEqual([
      expect.objectContaining({
        provider: 'gitlab',
        deliveryId: key,
        ref: 'refs/heads/master',
        branch: 'master',
        after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
        before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
        repository: {
          fullName: 'mike/diaspora',
          url: 'http://example.com/mike/diaspora',
          cloneUrls: ['http://example.com/mike/diaspora.git', 'git@example.com:mike/diaspora.git'],
        },
      }),
    ]);
  });

  it('refuses a wrong or missing token (401), a retry with the same Idempotency-Key (409)', async () => {
    await serve({});
    for (const token of ['wrong', `${SECRET}x`, SECRET.slice(0, -1), '']) {
      const r = await gitlab(GITLAB_PUSH, { token });
      expect(r.status, token).toBe(401);
    }
    const missing = await post(GITLAB_PUSH, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': randomUUID() });
    expect(missing.status).toBe(401);
    const key = randomUUID();
    expect((await gitlab(GITLAB_PUSH, { headers: { 'idempotency-key': key } })).status).toBe(202);
    // A retry: the same key, a new event uuid.
    const retry = await gitlab(GITLAB_PUSH, {
      headers: { 'idempotency-key': key, 'x-gitlab-event-uuid': randomUUID() },
    });
    expect(retry.status).toBe(409);
    // Without Idempotency-Key (GitLab before 17.4) the event uuid is the delivery id.
    const uuid = randomUUID();
    expect((await gitlab(GITLAB_PUSH, { headers: { 'x-gitlab-event-uuid': uuid } })).status).toBe(202);
    expect((await gitlab(GITLAB_PUSH, { headers: { 'x-gitlab-event-uuid': uuid } })).status).toBe(409);
    expect((await gitlab(GITLAB_PUSH, { headers: {} })).status).toBe(400);
    expect(pushes).toHaveLength(2);
  });

  it('ignores tag pushes and other hooks (204)', async () => {
    await serve({});
    const tag = JSON.stringify({ ...JSON.parse(GITLAB_PUSH), object_kind: 'tag_push', ref: 'refs/tags/v1.0.0' });
    expect((await gitlab(tag, { event: 'Tag Push Hook' })).status).toBe(204);
    expect((await gitlab(GITLAB_PUSH, { event: 'Merge Request Hook' })).status).toBe(204);
    expect(pushes).toEqual([]);
  });
});

describe('replay memory, failures, limits and the document', () => {
  it('forgets a delivery after the window, and the oldest beyond maxDeliveries', async () => {
    let now = 1_000_000;
    await serve({ replayWindowMs: 60_000, maxDeliveries: 2, clock: () => now });
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    expect((await github(GITHUB_PUSH, { delivery: a })).status).toBe(202);
    now += 59_999;
    expect((await github(GITHUB_PUSH, { delivery: a })).status).toBe(409);
    now += 1;
    expect((await github(GITHUB_PUSH, { delivery: a })).status).toBe(202);
    // a (again), b, c: over the bound of two, a is forgotten first.
    expect((await github(GITHUB_PUSH, { delivery: b })).status).toBe(202);
    expect((await github(GITHUB_PUSH, { delivery: c })).status).toBe(202);
    expect((await github(GITHUB_PUSH, { delivery: c })).status).toBe(409);
    expect((await github(GITHUB_PUSH, { delivery: b })).status).toBe(409);
    expect((await github(GITHUB_PUSH, { delivery: a })).status).toBe(202);
    expect(pushes.map((p) => p.deliveryId)).toEqual([a, a, b, c, a]);
  });

  it('a failing onPush answers 503 and forgets the delivery, so the retry is accepted', async () => {
    let fail = true;
    const seen: string[] = [];
    await serve({
      onPush: (event) => {
        if (fail) throw new Error('sync loop not running');
        seen.push(event.deliveryId);
      },
    });
    const delivery = randomUUID();
    const first = await github(GITHUB_PUSH, { delivery });
    expect(first.status).toBe(503);
    expect(first.text).not.toMatch(/sync loop not running/);
    fail = false;
    expect((await github(GITHUB_PUSH, { delivery })).status).toBe(202);
    expect(seen).toEqual([delivery]);
  });

  it('answers 401 when the webhook is not enabled', async () => {
    await serve(undefined);
    const r = await github(GITHUB_PUSH);
    expect(r.status).toBe(401);
    expect(r.body?.detail).toMatch(/not enabled/);
  });

  it('is rate limited per remote address before the body is read (429 with Retry-After)', async () => {
    await serve({}, { rateLimit: { perSecond: 0.001, burst: 2, clock: () => 5_000 } });
    expect((await github(GITHUB_PUSH)).status).toBe(202);
    expect((await github(GITHUB_PUSH, { signature: 'sha256=bad' })).status).toBe(401);
    const limited = await github(GITHUB_PUSH);
    expect(limited.status).toBe(429);
    expect(Number(limited.res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(pushes).toHaveLength(1);
  });

  it('refuses bad options naming the field', async () => {
    const bad: Array<[Partial<GitopsWebhookOptions>, RegExp]> = [
      [{ secret: 'short' }, /gitopsWebhook\.secret/],
      [{ onPush: 'no' as never }, /gitopsWebhook\.onPush/],
      [{ branches: 'main' as never }, /gitopsWebhook\.branches/],
      [{ replayWindowMs: 0 }, /gitopsWebhook\.replayWindowMs/],
      [{ maxDeliveries: 1.5 }, /gitopsWebhook\.maxDeliveries/],
    ];
    for (const [patch, message] of bad) {
      const error = await serve(patch).catch((e: unknown) => e);
      expect(isConfigError(error, 'CONSTRAINT_VIOLATION'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('is in the OpenAPI document without bearer security; injected answers match it', async () => {
    await serve({});
    const app = (s as ServerHarness).app;
    const doc = json<{ paths: Record<string, Record<string, { security?: unknown; responses: object }>> }>(
      await app.inject({ url: '/api/openapi.json' }),
    );
    const op = doc.paths[PATH]?.post;
    expect(op?.security).toEqual([]);
    expect(Object.keys(op?.responses ?? {})).toEqual(
      expect.arrayContaining(['202', '204', '400', '401', '409', '429']),
    );
    // Each answer is checked against the document by the harness's inject.
    const delivery = randomUUID();
    const headers = {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': githubSignature(GITHUB_PUSH),
    };
    expect((await app.inject({ method: 'POST', url: PATH, headers, payload: GITHUB_PUSH })).statusCode).toBe(202);
    expect((await app.inject({ method: 'POST', url: PATH, headers, payload: GITHUB_PUSH })).statusCode).toBe(409);
    const ping = { ...headers, 'x-github-event': 'ping', 'x-github-delivery': randomUUID() };
    expect((await app.inject({ method: 'POST', url: PATH, headers: ping, payload: GITHUB_PUSH })).statusCode).toBe(204);
  });
});
