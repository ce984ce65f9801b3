/**
 * The agent's audit feed job: the follower (`audit-feed.ts`) with the audit-derived metrics
 * (`audit-metrics.ts`) and one webhook channel per `notifications.webhooks` entry
 * (`notifications/channel.ts`), run as the leader job `audit-feed` every `notifications.pollMs`.
 * Needs the governance side (a durable record holds the trail, the cursors and the dead letters).
 */
import { parseRef } from '@summit-config/core';
import { createAuditFeed } from './audit-feed.js';
import { type AuditMetrics, auditMetricsSubscriber, createAuditMetrics, observePending } from './audit-metrics.js';
import type { AgentConfig } from './config.js';
import type { Governance } from './governance.js';
import type { AgentMetrics } from './metrics.js';
import { createWebhookChannel } from './notifications/channel.js';
import { createNotificationStore, type NotificationStore } from './notifications/sql.js';
import type { AgentStores } from './runtime.js';
import type { AgentLogger } from './util.js';

/** The job name. */
export const AUDIT_FEED_JOB = 'audit-feed';

/** The audit feed of one agent (see the file's comment). */
export interface AgentFeed {
  readonly metrics: AuditMetrics;
  readonly store: NotificationStore;
  /** Registers the `audit-feed` leader job. */
  register(register: (name: string, intervalMs: number, fn: LeaderRun) => void): void;
  /** Leadership changed: a follower's gauges go to 0 (only the leader reports). */
  leadership(leading: boolean): void;
  /** Closes the SQL handle. Idempotent. */
  close(): Promise<void>;
}

type LeaderRun = (ctx: { signal: AbortSignal; fencingToken: number }) => Promise<void>;

/** What the feed is built from: the agent's configuration, stores, governance side and metrics. */
export interface AgentFeedOptions {
  config: AgentConfig;
  stores: AgentStores;
  governance: Governance;
  metrics: AgentMetrics;
  logger?: AgentLogger;
}

/**
 * Builds the feed; `undefined` when the stores have no SQL beside them for the cursors. Opens one SQL
 * handle (rejects `BACKEND_UNAVAILABLE` when the database cannot be reached); nothing is read
 * before the job's first run.
 */
export async function createAgentFeed(options: AgentFeedOptions): Promise<AgentFeed | undefined> {
  const { config, stores, governance, logger } = options;
  const requests = stores.governance;
  if (!stores.secretSql || !requests) return undefined;
  const handle = await stores.secretSql();
  const store = createNotificationStore({ sql: handle.sql, schema: handle.schema });
  const m = createAuditMetrics(options.metrics);
  const { service, actor } = governance;
  const feed = createAuditFeed({
    read: (afterSeq, limit) => service.audit(actor, { afterSeq, limit }),
    cursors: store,
    ...(logger ? { logger } : {}),
  });
  feed.add(auditMetricsSubscriber(m, (id) => requests.getRequest(id)));
  for (const hook of config.notifications.webhooks) {
    feed.add(
      createWebhookChannel({
        hook,
        store,
        checksum: async (ref, version) => {
          try {
            return (await stores.store.getVersion(parseRef(ref), version))?.checksum;
          } catch {
            return undefined;
          }
        },
        onResult: (result) => m.notifications.inc({ channel: hook.name, result }),
        ...(logger ? { logger } : {}),
      }),
    );
    for (const result of ['delivered', 'retried', 'dead'] as const)
      m.notifications.inc({ channel: hook.name, result }, 0);
  }
  let term: number | undefined;
  let closing: Promise<void> | undefined;
  return {
    metrics: m,
    store,
    register(register) {
      register(AUDIT_FEED_JOB, config.notifications.pollMs, async ({ signal, fencingToken }) => {
        if (term !== fencingToken) {
          feed.reset();
          term = fencingToken;
        }
        await feed.poll(signal);
        observePending(m, await requests.listRequests({ status: 'pending' }));
        m.deadLetters.set(await store.countDead());
      });
    },
    leadership(leading) {
      if (leading) return;
      term = undefined;
      m.approvalsPending.set(0);
      m.oldestPending.set(0);
      m.deadLetters.set(0);
    },
    close() {
      closing ??= handle.close().catch(() => {});
      return closing;
    },
  };
}
