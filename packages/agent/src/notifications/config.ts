/**
 * The agent configuration's `notifications` section: outbound webhooks fed from the audit trail
 * (docs/notifications.md). Validated eagerly like every section: a bad field is a
 * `CONSTRAINT_VIOLATION` naming it (`agent config: notifications.webhooks[0].url must be ...`).
 *
 *   notifications:
 *     pollMs: 1000
 *     webhooks:
 *       - name: ops
 *         url: https://hooks.example.com/summit
 *         secretEnv: SUMMIT_HOOK_SECRET      # or secretFile: /run/secrets/hook
 *         events: [config.*, request.*]
 *         format: json                        # or slack
 */
import { readFileSync } from 'node:fs';
import { bool, fail, int, list, object, show, str } from '../config-fields.js';

/** The audit actions a webhook receives when it names none. */
export const DEFAULT_NOTIFIED_ACTIONS: readonly string[] = [
  'config.set',
  'config.delete',
  'config.rollback',
  'request.create',
  'request.approve',
  'request.reject',
  'request.apply',
  'request.expire',
  'drift.found',
  'drift.repaired',
  'secret.rotation.succeeded',
  'secret.rotation.failed',
];

/** A payload format: the JSON event, or a Slack-compatible `{ text, blocks }` message. */
export type NotificationFormat = 'json' | 'slack';

/** One webhook channel. */
export interface WebhookConfig {
  /** The channel's name: 1-64 of `[a-z0-9_-]`, unique. It names its cursor, metrics and dead letters. */
  name: string;
  /** `http://` or `https://` URL the events are POSTed to. */
  url: string;
  /** The HMAC-SHA256 key (from `secretEnv` or `secretFile`, at least 16 bytes). Never logged. */
  secret: string;
  /** Audit actions delivered: exact (`config.set`) or a prefix ending in `*` (`request.*`). Default {@link DEFAULT_NOTIFIED_ACTIONS}. */
  events: string[];
  /** Default `json`. */
  format: NotificationFormat;
  /** One request's timeout, ms. Default 5000. */
  timeoutMs: number;
  /** Attempts before an event becomes a dead letter (1 = no retry). Default 5. */
  maxAttempts: number;
  /** First retry's backoff ceiling, ms; doubled after each attempt, with full jitter. Default 1000. */
  backoffMs: number;
  /** Largest backoff ceiling, ms. Default 60000. */
  maxBackoffMs: number;
  /** Off: the channel is paused (its cursor stays; it catches up when enabled again). Default true. */
  enabled: boolean;
}

/** The validated `notifications` section, defaults filled in. */
export interface NotificationsConfig {
  /** Between two reads of the audit trail by the leader, ms. Default 1000. */
  pollMs: number;
  webhooks: WebhookConfig[];
}

const EVENT_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*(\.\*)?$|^\*$/;

function secretOf(w: Record<string, unknown>, path: string, env: NodeJS.ProcessEnv): string {
  if ((w.secretEnv === undefined) === (w.secretFile === undefined)) {
    throw fail(path, 'needs exactly one of secretEnv (an environment variable) and secretFile (a file)');
  }
  let secret: string;
  if (w.secretEnv !== undefined) {
    const name = str(w.secretEnv, `${path}.secretEnv`);
    const value = env[name];
    if (value === undefined || value === '') throw fail(`${path}.secretEnv`, `names ${name}, which is not set`);
    secret = value;
  } else {
    const file = str(w.secretFile, `${path}.secretFile`);
    try {
      secret = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw fail(`${path}.secretFile`, `${show(file)} cannot be read: ${(error as Error).message}`);
    }
  }
  if (Buffer.byteLength(secret) < 16) {
    throw fail(
      w.secretEnv !== undefined ? `${path}.secretEnv` : `${path}.secretFile`,
      'holds a secret shorter than 16 bytes',
    );
  }
  return secret;
}

function webhookEntry(item: unknown, path: string, env: NodeJS.ProcessEnv): WebhookConfig {
  const w = object(item, path, [
    'name',
    'url',
    'secretEnv',
    'secretFile',
    'events',
    'format',
    'timeoutMs',
    'maxAttempts',
    'backoffMs',
    'maxBackoffMs',
    'enabled',
  ]);
  const name = str(w.name, `${path}.name`);
  if (!/^[a-z0-9_-]{1,64}$/.test(name)) throw fail(`${path}.name`, `must be 1-64 of [a-z0-9_-], got ${show(name)}`);
  const url = str(w.url, `${path}.url`);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw fail(`${path}.url`, `must be an http(s) URL, got ${show(url)}`);
  }
  if (parsed.username || parsed.password) throw fail(`${path}.url`, 'must not carry credentials (use the secret)');
  const events =
    w.events === undefined
      ? [...DEFAULT_NOTIFIED_ACTIONS]
      : list(w.events, `${path}.events`).map((e, i) => {
          const pattern = str(e, `${path}.events[${i}]`);
          if (!EVENT_PATTERN.test(pattern)) {
            throw fail(
              `${path}.events[${i}]`,
              `must be an audit action or a prefix ending in .* , got ${show(pattern)}`,
            );
          }
          return pattern;
        });
  if (events.length === 0) throw fail(`${path}.events`, 'must name at least one action (leave it out for the default)');
  const format = w.format ?? 'json';
  if (format !== 'json' && format !== 'slack')
    throw fail(`${path}.format`, `must be json or slack, got ${show(format)}`);
  const backoffMs = int(w.backoffMs, `${path}.backoffMs`, 1000, 1, 3_600_000);
  const maxBackoffMs = int(w.maxBackoffMs, `${path}.maxBackoffMs`, 60_000, 1, 3_600_000);
  if (maxBackoffMs < backoffMs) throw fail(`${path}.maxBackoffMs`, `must be at least backoffMs (${backoffMs})`);
  return {
    name,
    url,
    secret: secretOf(w, path, env),
    events,
    format,
    timeoutMs: int(w.timeoutMs, `${path}.timeoutMs`, 5000, 100, 120_000),
    maxAttempts: int(w.maxAttempts, `${path}.maxAttempts`, 5, 1, 100),
    backoffMs,
    maxBackoffMs,
    enabled: bool(w.enabled, `${path}.enabled`, true),
  };
}

/** Validates the `notifications` section (secrets read from `env` or their files now). */
export function notificationsSection(raw: unknown, env: NodeJS.ProcessEnv): NotificationsConfig {
  const o = object(raw, 'notifications', ['pollMs', 'webhooks']);
  const webhooks: WebhookConfig[] = [];
  list(o.webhooks, 'notifications.webhooks').forEach((item, i) => {
    const path = `notifications.webhooks[${i}]`;
    const hook = webhookEntry(item, path, env);
    if (webhooks.some((h) => h.name === hook.name)) throw fail(`${path}.name`, `"${hook.name}" is listed twice`);
    webhooks.push(hook);
  });
  return { pollMs: int(o.pollMs, 'notifications.pollMs', 1000, 50, 3_600_000), webhooks };
}

/** Whether `action` matches one of a channel's `events` patterns. */
export function actionMatches(patterns: readonly string[], action: string): boolean {
  return patterns.some((p) => p === '*' || p === action || (p.endsWith('.*') && action.startsWith(p.slice(0, -1))));
}
