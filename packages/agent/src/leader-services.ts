/**
 * What the agent's leader jobs run on beyond the stores, opened once at start: governance (the
 * change service over the durable record, `governance.ts`), the drift auditor (`job-audit.ts`),
 * the audit feed (audit-derived metrics and notifications, `agent-feed.ts`) and the GitOps sync
 * loop (`gitops/sync-agent.ts`). Each is optional: one that cannot be opened is reported and the
 * agent goes on without it (and without what needs it).
 */
import type { ConfigError } from '@summit-config/core';
import { type AgentFeed, createAgentFeed } from './agent-feed.js';
import type { AgentConfig } from './config.js';
import type { AgentEvents } from './events.js';
import { type AgentGitopsSync, openAgentGitopsSync } from './gitops/sync-agent.js';
import { createGovernance, type Governance } from './governance.js';
import { createDriftAuditor, type DriftAuditor } from './job-audit.js';
import type { AgentMetrics } from './metrics.js';
import type { AgentStores } from './runtime.js';
import { type AgentLogger, toConfigError } from './util.js';

export interface LeaderServices {
  governance: Governance | undefined;
  /** Writes `drift.found` / `drift.repaired` audit events (with governance). */
  driftAudit: DriftAuditor | undefined;
  /** The audit feed: audit-derived metrics and notifications (with governance). */
  feed: AgentFeed | undefined;
  /** The gitops sync loop (`gitops` section). */
  gitops: AgentGitopsSync | undefined;
}

export async function openLeaderServices(options: {
  config: AgentConfig;
  stores: AgentStores;
  metrics: AgentMetrics;
  events: AgentEvents;
  logger: AgentLogger | undefined;
  /** Reports a service that could not be opened (`where` names it). */
  report: (where: string, error: ConfigError) => void;
}): Promise<LeaderServices> {
  const { config, stores, metrics, events, logger, report } = options;
  const services: LeaderServices = { governance: undefined, driftAudit: undefined, feed: undefined, gitops: undefined };
  try {
    services.governance = await createGovernance({ config, stores, metrics, logger });
  } catch (error) {
    report('governance', toConfigError(error));
  }
  if (services.governance) {
    const { service, actor } = services.governance;
    services.driftAudit = createDriftAuditor({ service, actor, logger });
    try {
      services.feed = await createAgentFeed({ config, stores, governance: services.governance, metrics, logger });
    } catch (error) {
      report('audit feed', toConfigError(error));
    }
  }
  try {
    services.gitops = await openAgentGitopsSync({
      config,
      stores,
      cursors: services.feed?.store,
      onEvent: (event) => {
        metrics.gitopsEvents.inc({ kind: event.kind });
        if (event.kind === 'blocked' || event.kind === 'applied')
          metrics.gitopsBlocked.set(event.kind === 'blocked' ? 1 : 0);
        events.emit('gitops', event);
      },
      ...(logger ? { logger } : {}),
    });
  } catch (error) {
    report('gitops', toConfigError(error));
  }
  return services;
}
