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

/** The job of the metrics subscriber; each webhook channel runs as `audit-feed:<name>`. */
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
  const metricsSubscriber = auditMetricsSubscriber(m, (id) => requests.getRequest(id));
  feed.add(metricsSubscriber);
  const channels = config.notifications.webhooks.map((hook) => {
    const channel = createWebhookChannel({
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
    });
    feed.add(channel);
    for (const result of ['delivered', 'retried', 'dead'] as const)
      m.notifications.inc({ channel: hook.name, result }, 0);
    return { hook, channel };
  });
  /** The term each subscriber's positions belong to: a new term reloads them from the cursors. */
  const terms = new Map<string, number>();
  /** One pass of one subscriber; an abort (leadership lost, the agent stopping) ends it quietly. */
  const follow = async (name: string, ctx: { signal: AbortSignal; fencingToken: number }) => {
    if (terms.get(name) !== ctx.fencingToken) {
      feed.reset(name);
      terms.set(name, ctx.fencingToken);
    }
    try {
      await feed.poll(ctx.signal, name);
    } catch (error) {
      if (!ctx.signal.aborted) throw error;
    }
  };
  let closing: Promise<void> | undefined;
  return {
    metrics: m,
    store,
    register(register) {
      // One job per subscriber: a channel waiting out its retries holds neither the others nor the metrics.
      register(AUDIT_FEED_JOB, config.notifications.pollMs, async (ctx) => {
        await follow(metricsSubscriber.name, ctx);
        if (ctx.signal.aborted) return;
        observePending(m, await requests.listRequests({ status: 'pending' }));
        m.deadLetters.set(await store.countDead());
      });
      for (const { hook, channel } of channels) {
        if (!hook.enabled) continue;
        register(`${AUDIT_FEED_JOB}:${hook.name}`, config.notifications.pollMs, (ctx) => follow(channel.name, ctx));
      }
    },
    leadership(leading) {
      if (leading) return;
      terms.clear();
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
