/**
 * What is said about an audit event: its id, the kind of actor, the environment a change concerns,
 * and the two payload formats (the JSON event; a Slack-compatible `{ text, blocks }`). Built from
 * the event's ids, numbers and message only: never a config document or a value (a change is named
 * by the paths it touched), so no secret reaches a receiver.
 */
import type { AuditEvent } from '@summit-config/core';
import type { NotificationFormat } from './config.js';

/** The payload's schema version (`specversion` of the JSON format). */
export const PAYLOAD_VERSION = 1;

/**
 * The id of an audit event for receivers: `<seq>-<first 16 hex of its hash>` (`<seq>-unhashed` for a
 * row without a hash). Stable across retries, redeliveries and leaders: a receiver dedupes on it.
 */
export function eventIdOf(event: Pick<AuditEvent, 'seq' | 'hash'>): string {
  return `${event.seq}-${event.hash ? event.hash.slice(0, 16) : 'unhashed'}`;
}

/** Who acted, by kind: `agent`, `token`, `oidc`, `gitops`, `user` (docs/notifications.md). */
export type ActorKind = 'agent' | 'token' | 'oidc' | 'gitops' | 'user';

/**
 * The kind of actor of an event: `agent` (source `agent`: the agent's jobs), `gitops` (an actor id
 * starting `gitops` or a user agent naming it), `token` (an API token through the config server),
 * `oidc` (a person signed in with OIDC), else `user` (a person: the CLI's OS user, the console).
 */
export function actorKindOf(event: Pick<AuditEvent, 'actor' | 'source' | 'origin'>): ActorKind {
  if (event.source === 'agent') return 'agent';
  if (/^gitops\b/i.test(event.actor) || /gitops/i.test(event.origin?.userAgent ?? '')) return 'gitops';
  if (event.origin?.method === 'token') return 'token';
  if (event.origin?.method === 'oidc') return 'oidc';
  return 'user';
}

/** `global` or `app:<name>` of a `<scope>/<id>` ref, or `none`. */
export function scopeOf(ref: string | undefined): string {
  if (ref === undefined) return 'none';
  const slash = ref.lastIndexOf('/');
  return slash > 0 ? ref.slice(0, slash) : 'none';
}

/**
 * The environment an event concerns: its own `environment` field; else, for a change, the one
 * environment whose overrides its patch alone touched (`/overrides/<env>/...`); else `all` (the base
 * config, several environments, or a rollout: every environment sees it).
 */
export function environmentOf(event: Pick<AuditEvent, 'environment' | 'changes'>): string {
  if (event.environment !== undefined) return event.environment;
  const envs = new Set<string>();
  for (const op of event.changes) {
    const m = /^\/overrides\/([^/]+)(\/|$)/.exec(op.path);
    if (!m) return 'all';
    envs.add((m[1] as string).replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  return envs.size === 1 ? ([...envs][0] as string) : 'all';
}

/** The JSON format's body. */
export interface NotificationEvent {
  readonly specversion: number;
  /** {@link eventIdOf}. */
  readonly id: string;
  /** The audit action, e.g. `config.set`. */
  readonly type: string;
  readonly seq: number;
  /** ISO-8601 UTC of the audit event. */
  readonly at: string;
  readonly actor: string;
  readonly actorKind: ActorKind;
  readonly source?: string;
  readonly ref?: string;
  readonly scope?: string;
  readonly version?: number;
  /** {@link environmentOf}. */
  readonly environment: string;
  readonly requestId?: string;
  /** The SHA-256 checksum of the version concerned, when the event names one that exists. */
  readonly checksum?: string;
  /** The paths the change touched (RFC 6902), without values. At most 50. */
  readonly paths?: readonly string[];
  /** One line: who did what to which ref, and the event's message. */
  readonly summary: string;
}

/** The JSON event of `event` (`checksum` looked up by the caller). */
export function notificationOf(event: AuditEvent, checksum?: string): NotificationEvent {
  const paths = [...new Set(event.changes.map((c) => c.path))].slice(0, 50);
  const where =
    event.ref === undefined ? '' : ` ${event.ref}${event.version === undefined ? '' : ` v${event.version}`}`;
  const message = event.message.length > 500 ? `${event.message.slice(0, 500)}…` : event.message;
  return {
    specversion: PAYLOAD_VERSION,
    id: eventIdOf(event),
    type: event.action,
    seq: event.seq,
    at: event.at,
    actor: event.actor,
    actorKind: actorKindOf(event),
    ...(event.source !== undefined ? { source: event.source } : {}),
    ...(event.ref !== undefined ? { ref: event.ref, scope: scopeOf(event.ref) } : {}),
    ...(event.version !== undefined ? { version: event.version } : {}),
    environment: environmentOf(event),
    ...(event.requestId !== undefined ? { requestId: event.requestId } : {}),
    ...(checksum !== undefined ? { checksum } : {}),
    ...(paths.length > 0 ? { paths } : {}),
    summary: `${event.actor} ${event.action}${where}${message ? `: ${message}` : ''}`,
  };
}

/** Escapes Slack's mrkdwn control characters. */
const slackText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A Slack-compatible message (incoming webhooks): `text` for notifications, `blocks` for the layout. */
export function slackMessageOf(n: NotificationEvent): { text: string; blocks: unknown[] } {
  const fields = [
    `*${slackText(n.type)}*`,
    n.ref ? `\`${slackText(n.ref)}\`${n.version === undefined ? '' : ` v${n.version}`}` : undefined,
    `env ${slackText(n.environment)}`,
    `by ${slackText(n.actor)} (${n.actorKind})`,
  ].filter((f) => f !== undefined);
  return {
    text: slackText(n.summary),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: fields.join(' · ') } },
      { type: 'section', text: { type: 'plain_text', text: n.summary.slice(0, 2900), emoji: false } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `event ${n.id} · ${n.at}` }] },
    ],
  };
}

/** The body POSTed for `n` in `format` (JSON text). */
export function bodyOf(n: NotificationEvent, format: NotificationFormat): string {
  return JSON.stringify(format === 'slack' ? slackMessageOf(n) : n);
}
