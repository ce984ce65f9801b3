/**
 * Metrics derived from the audit trail, registered on the agent's registry and counted by the
 * leader only (its audit feed subscriber, `audit-feed.ts`), so a cluster of agents counts each event
 * once (sum over agents; a follower's counters stand still):
 *
 * - `summit_agent_config_changes_total{scope,environment,actor_kind}`: `config.set`, `config.delete`,
 *   `config.rollback` and `request.apply` events;
 * - `summit_agent_approvals_total{action}` (declared in metrics.ts): `requested`, `approved`,
 *   `rejected`, `applied`, `expired`;
 * - `summit_agent_approval_latency_seconds{environment,decision}`: request to decision;
 * - `summit_agent_approvals_pending`, `summit_agent_approval_oldest_pending_seconds`: from the
 *   pending change requests, at every poll;
 * - `summit_agent_notifications_total{channel,result}`, `summit_agent_notification_dead_letters`.
 *
 * Labels are documented in docs/notifications.md ("Metrics").
 */
import type { AuditEvent, ChangeRequest } from '@summit-config/core';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { AuditSubscriber } from './audit-feed.js';
import type { AgentMetrics } from './metrics.js';
import { actorKindOf, environmentOf, scopeOf } from './notifications/payload.js';

/** Audit actions counted as configuration changes. */
export const CHANGE_ACTIONS: readonly string[] = ['config.set', 'config.delete', 'config.rollback', 'request.apply'];

/** Buckets of the approval latency, seconds: ten seconds to a week. */
const LATENCY_BUCKETS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400, 172_800, 604_800];

/** The audit-derived metrics (see the file's comment). */
export type AuditMetrics = ReturnType<typeof createAuditMetrics>;

const registered = new WeakMap<object, ReturnType<typeof buildAuditMetrics>>();

/**
 * The audit-derived metrics on `metrics.registry`: registered at the first call, the same object
 * after (two agents sharing one registry share them).
 */
export function createAuditMetrics(metrics: Pick<AgentMetrics, 'registry' | 'approvals'>) {
  let m = registered.get(metrics.registry);
  if (!m) {
    m = buildAuditMetrics(metrics);
    registered.set(metrics.registry, m);
  }
  return m;
}

function buildAuditMetrics(metrics: Pick<AgentMetrics, 'registry' | 'approvals'>) {
  const registers = [metrics.registry];
  return {
    /** The agent's `approvals` counter (metrics.ts), incremented by {@link auditMetricsSubscriber}. */
    approvals: metrics.approvals,
    /** `summit_agent_config_changes_total{scope,environment,actor_kind}`. */
    configChanges: new Counter({
      name: 'summit_agent_config_changes_total',
      help: 'Configuration changes recorded in the audit trail (set, delete, rollback, applied change request), by scope, environment and kind of actor',
      labelNames: ['scope', 'environment', 'actor_kind'] as const,
      registers,
    }),
    /** `summit_agent_approval_latency_seconds{environment,decision}`: from the request to its decision. */
    approvalLatency: new Histogram({
      name: 'summit_agent_approval_latency_seconds',
      help: 'Time from a change request to its decision (approved: the last required approval; rejected), by environment',
      labelNames: ['environment', 'decision'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    /** `summit_agent_approvals_pending`: change requests awaiting approval. */
    approvalsPending: new Gauge({
      name: 'summit_agent_approvals_pending',
      help: 'Change requests awaiting approval (as the leader last read them)',
      registers,
    }),
    /** `summit_agent_approval_oldest_pending_seconds`: age of the oldest pending request, 0 when none. */
    oldestPending: new Gauge({
      name: 'summit_agent_approval_oldest_pending_seconds',
      help: 'Age of the oldest change request awaiting approval, seconds (0 when none)',
      registers,
    }),
    /** `summit_agent_notifications_total{channel,result}`: `delivered`, `retried`, `dead`. */
    notifications: new Counter({
      name: 'summit_agent_notifications_total',
      help: 'Webhook notifications, by channel and result (delivered, retried: an attempt failed and is retried, dead: dead-lettered)',
      labelNames: ['channel', 'result'] as const,
      registers,
    }),
    /** `summit_agent_notification_dead_letters`: dead letters waiting for a retry. */
    deadLetters: new Gauge({
      name: 'summit_agent_notification_dead_letters',
      help: 'Notifications that exhausted their attempts and wait in the dead-letter table',
      registers,
    }),
  };
}

/** The label of a request's environments: its guarded environments, sorted and joined by `,`, or `none`. */
export function requestEnvironment(request: Pick<ChangeRequest, 'environments'> | undefined): string {
  const envs = [...(request?.environments ?? [])].sort();
  return envs.length > 0 ? envs.join(',') : 'none';
}

/**
 * The subscriber that counts: `getRequest` reads a change request (for its time and environments).
 * An approval decides a request when its message says `now approved` (the service writes
 * `...; now <state>`); individual approvals that leave it pending are not counted.
 */
export function auditMetricsSubscriber(
  m: AuditMetrics,
  getRequest: (id: string) => Promise<ChangeRequest | undefined>,
): AuditSubscriber {
  return {
    name: 'metrics',
    async handle(event: AuditEvent) {
      if (CHANGE_ACTIONS.includes(event.action)) {
        m.configChanges.inc({
          scope: scopeOf(event.ref),
          environment: environmentOf(event),
          actor_kind: actorKindOf(event),
        });
      }
      switch (event.action) {
        case 'request.create':
          m.approvals.inc({ action: 'requested' });
          return;
        case 'request.apply':
          m.approvals.inc({ action: 'applied' });
          return;
        case 'request.expire':
          m.approvals.inc({ action: 'expired' });
          return;
        case 'request.approve':
        case 'request.reject': {
          const approved = event.action === 'request.approve';
          if (approved && !/; now approved(?::|$)/.test(event.message)) return;
          m.approvals.inc({ action: approved ? 'approved' : 'rejected' });
          const request = event.requestId === undefined ? undefined : await getRequest(event.requestId);
          if (request) {
            const seconds = (Date.parse(event.at) - Date.parse(request.requestedAt)) / 1000;
            if (Number.isFinite(seconds) && seconds >= 0) {
              m.approvalLatency.observe(
                { environment: requestEnvironment(request), decision: approved ? 'approved' : 'rejected' },
                seconds,
              );
            }
          }
          return;
        }
        default:
          return;
      }
    },
  };
}

/** Sets the pending gauges from the pending requests at `now` (ms). */
export function observePending(m: AuditMetrics, pending: readonly ChangeRequest[], now = Date.now()): void {
  m.approvalsPending.set(pending.length);
  const oldest = Math.min(...pending.map((r) => Date.parse(r.requestedAt)).filter(Number.isFinite));
  m.oldestPending.set(Number.isFinite(oldest) ? Math.max(0, (now - oldest) / 1000) : 0);
}
