/**
 * `POST /api/v1/gitops/webhook` (docs/gitops-webhook.md): a git host's push notification, which
 * triggers a GitOps sync at once (`gitopsWebhook.onPush`). It is called by GitHub or GitLab, which
 * hold no API token: the route is outside the bearer authentication, and its credential is the
 * delivery's own proof, checked against `gitopsWebhook.secret` before anything else is read:
 *
 * - GitHub: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body under the secret;
 *   `X-GitHub-Event` (`push`; `ping` and others are ignored), `X-GitHub-Delivery` (the delivery id).
 *   The body is JSON, or a form with a `payload` field (the webhook's "content type" setting).
 * - GitLab: `X-Gitlab-Token`, the secret itself (compared in constant time); `X-Gitlab-Event`
 *   (`Push Hook`; others are ignored); the delivery id is `Idempotency-Key` (GitLab 17.4+, the same
 *   on a retry), else `X-Gitlab-Event-UUID`.
 *
 * Replays are refused by delivery id: an id seen within `replayWindowMs` is `409`, kept in a bounded
 * memory of `maxDeliveries` ids per process. Neither host signs a timestamp, so an id is the only
 * replay protection (a redelivery the operator asks for is a new id at GitHub; at GitLab it is the
 * same `Idempotency-Key` and is refused within the window).
 *
 * Answers: `202` accepted (onPush called), `204` ignored (another event, a tag, a deleted branch, a
 * branch not in `branches`), `400` malformed (no delivery id, a payload without ref, commit or
 * repository), `401` bad or missing signature (also when the webhook is not enabled), `409` replay,
 * `429` over the rate limit (a bucket per remote address, with the server's `rateLimit`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isConfigError } from '@summit-config/core';
import { errors, isPlainObject } from '@summit-config/core/internal';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problem, problemOf } from '../problems.js';
import { TokenBuckets } from '../rate-limit.js';
import { sendProblem } from '../reply.js';
import { errorResponses } from '../schemas.js';
import type { ServerContext } from './context.js';

/** The path of the webhook. */
export const GITOPS_WEBHOOK_PATH = '/api/v1/gitops/webhook';

/** A push to a branch, as the webhook verified and parsed it. */
export interface GitPushEvent {
  /** Who sent it. */
  provider: 'github' | 'gitlab';
  /** The delivery id (`X-GitHub-Delivery`; GitLab's `Idempotency-Key` or `X-Gitlab-Event-UUID`). */
  deliveryId: string;
  /** The full ref pushed, `refs/heads/<branch>`. */
  ref: string;
  /** The branch (the ref without `refs/heads/`). */
  branch: string;
  /** The commit the branch points to after the push (40 or 64 hex digits). */
  after: string;
  /** The commit before the push, when the payload has one (all zeros for a new branch). */
  before: string | undefined;
  /** The repository: its name (`owner/name`), web address and clone URLs, as the payload gives them. */
  repository: { fullName: string | undefined; url: string | undefined; cloneUrls: string[] };
  /** When the server received it (ISO 8601). */
  receivedAt: string;
}

/** `createConfigServer({ gitopsWebhook })`: the push webhook that triggers a GitOps sync. */
export interface GitopsWebhookOptions {
  /**
   * The webhook secret configured at the git host: GitHub's HMAC key, GitLab's secret token. At
   * least 16 characters. Never logged or echoed.
   */
  secret: string;
  /**
   * Called once per accepted push, before the `202` is sent; it should start the sync and return
   * (the request's timeout applies to it). A throw answers `503` (a `ConfigError`: its status) and
   * forgets the delivery id, so the host's retry is accepted.
   */
  onPush(event: GitPushEvent): void | Promise<void>;
  /** Only pushes to these branches are passed on; others are `204`. Default: every branch. */
  branches?: readonly string[];
  /** How long a delivery id is remembered, in milliseconds. Default 86 400 000 (one day). */
  replayWindowMs?: number;
  /** Most delivery ids remembered; over it the oldest is forgotten. Default 10 000. */
  maxDeliveries?: number;
  /** The clock, in milliseconds (default `Date.now`); for tests of the replay window. */
  clock?: () => number;
}

export interface CheckedGitopsWebhook {
  secret: Buffer;
  onPush: GitopsWebhookOptions['onPush'];
  branches: ReadonlySet<string> | undefined;
  replayWindowMs: number;
  maxDeliveries: number;
  clock: () => number;
}

export const DEFAULT_REPLAY_WINDOW_MS = 86_400_000;
export const DEFAULT_MAX_DELIVERIES = 10_000;
const MIN_SECRET_LENGTH = 16;

/** Checks the option at construction; `CONSTRAINT_VIOLATION` names the bad field. */
export function checkGitopsWebhook(given: GitopsWebhookOptions | undefined): CheckedGitopsWebhook | undefined {
  if (given === undefined) return undefined;
  const name = 'config server option gitopsWebhook';
  if (given === null || typeof given !== 'object') throw errors.constraint(`${name} must be { secret, onPush }`);
  if (typeof given.secret !== 'string' || given.secret.length < MIN_SECRET_LENGTH) {
    throw errors.constraint(`${name}.secret must be a string of at least ${MIN_SECRET_LENGTH} characters`);
  }
  if (typeof given.onPush !== 'function') throw errors.constraint(`${name}.onPush must be a function`);
  let branches: Set<string> | undefined;
  if (given.branches !== undefined) {
    if (!Array.isArray(given.branches) || given.branches.some((b) => typeof b !== 'string' || b === '')) {
      throw errors.constraint(`${name}.branches must be an array of branch names`);
    }
    branches = new Set(given.branches);
  }
  const positive = (value: unknown, fallback: number, field: string) => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      throw errors.constraint(`${name}.${field} must be a positive integer`);
    }
    return v as number;
  };
  const clock = given.clock ?? Date.now;
  if (typeof clock !== 'function') throw errors.constraint(`${name}.clock must be a function`);
  return {
    secret: Buffer.from(given.secret, 'utf8'),
    onPush: given.onPush,
    branches,
    replayWindowMs: positive(given.replayWindowMs, DEFAULT_REPLAY_WINDOW_MS, 'replayWindowMs'),
    maxDeliveries: positive(given.maxDeliveries, DEFAULT_MAX_DELIVERIES, 'maxDeliveries'),
    clock,
  };
}

/** Delivery ids seen within the window, oldest first (a `Map` keeps insertion order). */
class DeliveryLog {
  readonly #seen = new Map<string, number>();
  readonly #options: CheckedGitopsWebhook;

  constructor(options: CheckedGitopsWebhook) {
    this.#options = options;
  }

  /** Records `id`; false when it was already seen within the window (a replay). */
  admit(id: string): boolean {
    const now = this.#options.clock();
    for (const [key, at] of this.#seen) {
      if (now - at < this.#options.replayWindowMs) break;
      this.#seen.delete(key);
    }
    const at = this.#seen.get(id);
    if (at !== undefined && now - at < this.#options.replayWindowMs) return false;
    this.#seen.delete(id);
    this.#seen.set(id, now);
    while (this.#seen.size > this.#options.maxDeliveries) {
      const oldest = this.#seen.keys().next().value as string;
      this.#seen.delete(oldest);
    }
    return true;
  }

  forget(id: string): void {
    this.#seen.delete(id);
  }
}

const HEX_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const ZERO_SHA = /^0+$/;

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** Constant-time equality of two secrets of any length (their SHA-256 digests are compared). */
function sameSecret(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Whether GitHub's `sha256=<hex>` signature is the HMAC of `body` under `secret`. */
function githubSigned(signature: string | undefined, body: Buffer, secret: Buffer): boolean {
  if (signature === undefined || !/^sha256=[0-9a-fA-F]{64}$/.test(signature)) return false;
  const given = Buffer.from(signature.slice(7), 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(given, expected);
}

/** The payload object of a delivery body: JSON, or a form's `payload` field (GitHub). */
function payloadOf(request: FastifyRequest, body: Buffer): Record<string, unknown> | undefined {
  const type = (header(request, 'content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase();
  let text = body.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') {
    const payload = new URLSearchParams(text).get('payload');
    if (payload === null) return undefined;
    text = payload;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** The push in a payload, or a reason it is malformed. */
function pushOf(
  provider: GitPushEvent['provider'],
  payload: Record<string, unknown>,
): Omit<GitPushEvent, 'deliveryId' | 'receivedAt' | 'branch'> | string {
  const ref = str(payload.ref);
  if (ref === undefined || !ref.startsWith('refs/')) return 'the payload has no "ref" (refs/...)';
  const after = str(payload.after);
  if (after === undefined || !HEX_SHA.test(after)) return 'the payload has no "after" commit (40 or 64 hex digits)';
  const before = str(payload.before);
  const repo = provider === 'github' ? payload.repository : (payload.project ?? payload.repository);
  if (!isPlainObject(repo)) return `the payload has no "${provider === 'github' ? 'repository' : 'project'}"`;
  const urls =
    provider === 'github' ? [str(repo.clone_url), str(repo.ssh_url)] : [str(repo.git_http_url), str(repo.git_ssh_url)];
  const cloneUrls = urls.filter((u): u is string => u !== undefined);
  const url = provider === 'github' ? str(repo.html_url) : (str(repo.web_url) ?? str(repo.homepage));
  if (cloneUrls.length === 0 && url === undefined) return 'the payload names no repository URL';
  const fullName = provider === 'github' ? str(repo.full_name) : str(repo.path_with_namespace);
  return { provider, ref, after, before: before, repository: { fullName, url, cloneUrls } };
}

/** The raw body of each webhook delivery (the HMAC is over these bytes), kept beside the request. */
const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/** Registers the webhook route in its own context (its body is kept raw, not parsed as JSON). */
export function gitopsWebhookRoutes(app: FastifyInstance, options: ServerContext): void {
  const hook = options.gitopsWebhook;
  const log = hook ? new DeliveryLog(hook) : undefined;
  const buckets = options.rateLimit === false ? undefined : new TokenBuckets(options.rateLimit);

  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      ['application/json', 'application/x-www-form-urlencoded'],
      { parseAs: 'buffer' },
      (request, body, done) => {
        rawBodies.set(request, body as Buffer);
        done(null, {});
      },
    );

    const refuse = (
      request: FastifyRequest,
      reply: FastifyReply,
      status: number,
      code: 'ACCESS_DENIED' | 'CONSTRAINT_VIOLATION' | 'REPLAYED',
      detail: string,
    ) => sendProblem(request, reply, problem(status, code, detail));

    scope.post(
      GITOPS_WEBHOOK_PATH,
      {
        config: { publicRoute: true },
        // Before the body is read: a bucket per remote address (the caller has no principal).
        onRequest: async (request, reply) => {
          if (buckets === undefined) return;
          const { allowed, retryAfter } = buckets.take(`webhook:${request.ip}`);
          if (allowed) return;
          reply.header('Retry-After', String(retryAfter));
          await sendProblem(
            request,
            reply,
            problem(429, 'RATE_LIMITED', `too many webhook deliveries from this address; retry after ${retryAfter} s`),
          );
        },
        schema: {
          summary: 'A GitHub or GitLab push notification: triggers a GitOps sync',
          description:
            "Authenticated by the delivery itself, not a token: GitHub `X-Hub-Signature-256` (HMAC-SHA256 of the raw body) or GitLab `X-Gitlab-Token`. A delivery id seen before is refused (409). Body: the host's push payload (JSON, or GitHub's form with `payload`).",
          tags: ['gitops'],
          security: [],
          headers: {
            type: 'object',
            properties: {
              'x-github-event': { type: 'string' },
              'x-github-delivery': { type: 'string' },
              'x-hub-signature-256': { type: 'string' },
              'x-gitlab-event': { type: 'string' },
              'x-gitlab-token': { type: 'string' },
              'x-gitlab-event-uuid': { type: 'string' },
              'idempotency-key': { type: 'string' },
            },
          },
          response: {
            202: {
              description: 'accepted: the sync was triggered',
              type: 'object',
              properties: {
                accepted: { type: 'boolean' },
                provider: { type: 'string', enum: ['github', 'gitlab'] },
                deliveryId: { type: 'string' },
                ref: { type: 'string' },
                branch: { type: 'string' },
                after: { type: 'string' },
              },
              required: ['accepted', 'provider', 'deliveryId', 'ref', 'branch', 'after'],
            },
            204: {
              description: 'ignored: another event, a tag, a deleted branch or a branch not followed',
              type: 'null',
            },
            ...errorResponses(409),
          },
        },
      },
      async (request, reply) => {
        if (hook === undefined || log === undefined) {
          return refuse(request, reply, 401, 'ACCESS_DENIED', 'the GitOps webhook is not enabled on this server');
        }
        const body = rawBodies.get(request) ?? Buffer.alloc(0);
        const githubEvent = header(request, 'x-github-event');
        const gitlabEvent = header(request, 'x-gitlab-event');
        let provider: GitPushEvent['provider'];
        if (githubEvent !== undefined) {
          if (!githubSigned(header(request, 'x-hub-signature-256'), body, hook.secret)) {
            return refuse(
              request,
              reply,
              401,
              'ACCESS_DENIED',
              'X-Hub-Signature-256 is missing or does not match the body',
            );
          }
          provider = 'github';
        } else if (gitlabEvent !== undefined) {
          const token = header(request, 'x-gitlab-token');
          if (token === undefined || !sameSecret(Buffer.from(token, 'utf8'), hook.secret)) {
            return refuse(request, reply, 401, 'ACCESS_DENIED', 'X-Gitlab-Token is missing or wrong');
          }
          provider = 'gitlab';
        } else {
          return refuse(
            request,
            reply,
            401,
            'ACCESS_DENIED',
            'not a GitHub or GitLab delivery (no X-GitHub-Event or X-Gitlab-Event)',
          );
        }
        const deliveryId =
          provider === 'github'
            ? header(request, 'x-github-delivery')
            : (header(request, 'idempotency-key') ?? header(request, 'x-gitlab-event-uuid'));
        if (deliveryId === undefined || deliveryId.length === 0 || deliveryId.length > 200) {
          return refuse(
            request,
            reply,
            400,
            'CONSTRAINT_VIOLATION',
            'the delivery has no id (X-GitHub-Delivery, Idempotency-Key or X-Gitlab-Event-UUID)',
          );
        }
        if (!log.admit(`${provider}:${deliveryId}`)) {
          return refuse(request, reply, 409, 'REPLAYED', `delivery ${deliveryId} was already received`);
        }
        const isPush = provider === 'github' ? githubEvent === 'push' : gitlabEvent === 'Push Hook';
        if (!isPush) return reply.code(204).send();
        const payload = payloadOf(request, body);
        const push = payload === undefined ? 'the body is not a JSON object' : pushOf(provider, payload);
        if (typeof push === 'string') {
          log.forget(`${provider}:${deliveryId}`);
          return refuse(request, reply, 400, 'CONSTRAINT_VIOLATION', push);
        }
        if (!push.ref.startsWith('refs/heads/') || ZERO_SHA.test(push.after)) return reply.code(204).send();
        const branch = push.ref.slice('refs/heads/'.length);
        if (hook.branches !== undefined && !hook.branches.has(branch)) return reply.code(204).send();
        const event: GitPushEvent = { ...push, deliveryId, branch, receivedAt: new Date(hook.clock()).toISOString() };
        try {
          await hook.onPush(event);
        } catch (error) {
          log.forget(`${provider}:${deliveryId}`);
          const p = isConfigError(error)
            ? problemOf(error, false)
            : problem(503, 'BACKEND_UNAVAILABLE', 'the sync could not be started');
          return sendProblem(request, reply, p);
        }
        return reply.code(202).send({ accepted: true, provider, deliveryId, ref: push.ref, branch, after: push.after });
      },
    );
  });
}
