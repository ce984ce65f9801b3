/**
 * A webhook channel as a subscriber of the audit feed (cursor `notifications:<name>`): every event
 * whose action the channel subscribes to is POSTed, signed, with retries; the outcome is recorded
 * (`delivered`, or `dead` after the last attempt: a dead letter for `summit-config notifications
 * retry`). An event already recorded for the channel (a redelivery after a leader change) is not
 * sent again. Events are sent one at a time, so a receiver sees them in audit order.
 */
import type { AuditEvent } from '@summit-config/core';
import { abortReason } from '@summit-config/core/internal';
import type { AuditSubscriber } from '../audit-feed.js';
import type { AgentLogger } from '../util.js';
import { actionMatches, type WebhookConfig } from './config.js';
import { deliver } from './deliver.js';
import { bodyOf, eventIdOf, notificationOf } from './payload.js';
import type { NotificationStore } from './sql.js';

/** A channel's configuration and what it records and reports to. */
export interface WebhookChannelOptions {
  hook: WebhookConfig;
  store: NotificationStore;
  /** The checksum of a version (`undefined` when it cannot be read); never throws. */
  checksum?: (ref: string, version: number) => Promise<string | undefined>;
  /** Told of every outcome: `delivered`, `retried` (an attempt failed, another follows), `dead`. */
  onResult?: (result: 'delivered' | 'retried' | 'dead') => void;
  logger?: AgentLogger;
}

/** The cursor name of a channel. */
export const channelCursor = (name: string) => `notifications:${name}`;

/**
 * Creates the channel's subscriber. Its `handle` rejects (the cursor stays) when the signal aborts
 * or the notification store fails; a receiver's failure is never a rejection but a dead letter.
 */
export function createWebhookChannel(options: WebhookChannelOptions): AuditSubscriber {
  const { hook, store, logger } = options;
  return {
    name: channelCursor(hook.name),
    async handle(event: AuditEvent, signal: AbortSignal) {
      if (!hook.enabled || !actionMatches(hook.events, event.action)) return;
      const eventId = eventIdOf(event);
      if (await store.find(hook.name, eventId)) return;
      const checksum =
        event.ref !== undefined && event.version !== undefined
          ? await options.checksum?.(event.ref, event.version)
          : undefined;
      const body = bodyOf(notificationOf(event, checksum), hook.format);
      const result = await deliver(
        hook,
        body,
        { eventId, eventType: event.action },
        {
          signal,
          onRetry: (attempt) => {
            options.onResult?.('retried');
            logger?.debug?.(
              { channel: hook.name, eventId, error: attempt.error },
              `notification ${eventId} to ${hook.name} failed, retrying`,
            );
          },
        },
      );
      // Leadership lost or the agent stopping: the cursor stays, the next leader sends it.
      if (result.aborted) throw abortReason(signal);
      const base = { channel: hook.name, eventId, seq: event.seq, action: event.action, ref: event.ref, body };
      if (result.ok) {
        await store.record({ ...base, status: 'delivered', attempts: result.attempts, lastError: undefined });
        options.onResult?.('delivered');
        return;
      }
      const dead = await store.record({
        ...base,
        status: 'dead',
        attempts: result.attempts,
        lastError: result.lastError,
      });
      options.onResult?.('dead');
      logger?.warn?.(
        { channel: hook.name, eventId, id: dead.id, attempts: result.attempts, error: result.lastError },
        `notification ${eventId} to ${hook.name} dead-lettered as ${dead.id} (summit-config notifications retry ${dead.id})`,
      );
    },
  };
}
