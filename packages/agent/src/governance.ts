/**
 * The agent's governance side: the change service the runtime builds over the same durable record as
 * the store chain (PostgreSQL in the store's schema, or the shared embedded PGlite), acting as the
 * agent's own actor,
 * and the leader jobs that need it: scheduled applies of approved change requests, canary steps behind
 * health gates, due secret rotations (every provider of the `secrets` section), and audit
 * checkpoints (verify the trail, sign its head into every anchor; when the service has a signing key).
 * Rotation runs that end are audited (`secret.rotation.succeeded` / `.failed`, job-audit.ts). Built
 * whenever there is a durable record, jobs or not: the drift auditor and the audit feed use its service.
 */
import { type Actor, type ConfigService, createRbac, isConfigError } from '@summit-config/core';
import type { AgentConfig } from './config.js';
import { keyedProviders } from './config-secrets.js';
import { auditRotations } from './job-audit.js';
import type { AgentMetrics } from './metrics.js';
import { stepRollouts } from './rollout-steps.js';
import type { AgentStores } from './runtime.js';
import { createProviderRotation } from './secret-rotation.js';
import type { AgentLogger } from './util.js';

/** The permissions the agent's own actor holds; nothing else can act through this service. */
const AGENT_ROLE = [
  'config:read',
  'config:list',
  'config:write',
  'config:audit:read',
  'env:read',
  'schema:read',
  'approval:apply',
  'rollout:step',
  'secrets:read',
  'secrets:rotate',
  'rotation:read',
  'rotation:write',
] as const;

export interface Governance {
  readonly service: ConfigService;
  readonly actor: Actor;
  /** Registers the governance jobs with the leader job runner: `schedule` is an interval in ms or a node-cron expression. */
  register(
    register: (name: string, schedule: number | string, fn: (ctx: { signal: AbortSignal }) => Promise<void>) => void,
  ): void;
  close(): Promise<void>;
}

export interface GovernanceOptions {
  config: AgentConfig;
  stores: AgentStores;
  metrics: AgentMetrics;
  logger?: AgentLogger;
  env?: NodeJS.ProcessEnv;
}

/**
 * Builds the governance side, or returns undefined when there is no durable record to keep its state
 * in (Consul alone).
 */
export async function createGovernance(options: GovernanceOptions): Promise<Governance | undefined> {
  const { config, stores, metrics, logger } = options;
  const env = options.env ?? process.env;
  const { jobs } = config;
  const { governance, secretSql } = stores;
  if (!governance || !stores.service) {
    logger?.info?.({}, 'governance jobs and audit events off: no PostgreSQL or embedded store to keep their state');
    return undefined;
  }
  const actor: Actor = { id: `summit-agent:${config.instance}`, roles: ['summit-agent'] };
  const rbac = createRbac({ roles: { 'summit-agent': [...AGENT_ROLE] }, bindings: [] });
  // The runtime owns the service and the governance storage: it closes them.
  const service = stores.service(rbac, { source: 'agent' });
  const closers: Array<() => Promise<unknown>> = [];

  // Rotations: every provider of the `secrets` section (local is in it when a master key is set),
  // on the node-cron `secrets.schedule`, else every `jobs.rotationsMs`.
  let rotation: import('@summit-config/secrets').RotationManager | undefined;
  const rotationSchedule: number | string = config.secrets.schedule ?? jobs.rotationsMs;
  const secrets = keyedProviders(config.secrets, env);
  if (jobs.rotationsMs > 0 && secrets.providers.length > 0 && secretSql) {
    try {
      const built = await createProviderRotation({
        config: secrets,
        handle: await secretSql(),
        migrator: governance,
        service,
        store: stores.store,
        rbac,
        actor,
        env,
        ...(logger ? { logger } : {}),
      });
      rotation = built.rotation;
      closers.unshift(() => built.close());
      logger?.info?.(
        { providers: [...built.providers.providers.keys()], schedule: rotationSchedule },
        'secret rotations on',
      );
    } catch (error) {
      // A provider that cannot be built (an unset credential variable, no master key) stops the
      // rotations only: the other governance jobs still run.
      const err = isConfigError(error) ? error.toJSON() : String(error);
      logger?.error?.({ err }, 'secret rotations off: a secret provider could not be built');
    }
  } else if (jobs.rotationsMs > 0) {
    logger?.info?.(
      {},
      'secret rotations off: configure secrets.providers or set SUMMIT_MASTER_KEY (or SUMMIT_MASTER_KEY_FILE) to enable them',
    );
  }

  let closing: Promise<void> | undefined;
  return {
    service,
    actor,
    register(register) {
      if (jobs.scheduledAppliesMs > 0) {
        register('scheduled-applies', jobs.scheduledAppliesMs, async () => {
          const report = await service.applyDue(actor);
          if (report.applied.length > 0) metrics.scheduledApplies.inc({ result: 'applied' }, report.applied.length);
          if (report.expired.length > 0) metrics.scheduledApplies.inc({ result: 'expired' }, report.expired.length);
          if (report.failed.length > 0) metrics.scheduledApplies.inc({ result: 'failed' }, report.failed.length);
        });
      }
      if (jobs.rolloutStepsMs > 0) {
        register('rollout-steps', jobs.rolloutStepsMs, async ({ signal }) => {
          const { steps, errors } = await stepRollouts({ service, actor, prometheusUrl: jobs.prometheusUrl, signal });
          for (const step of steps)
            logger?.info?.({ ...step }, `rollout ${step.ruleId} of ${step.ref}: ${step.action}`);
          for (const error of errors) {
            logger?.warn?.({ err: isConfigError(error) ? error.toJSON() : String(error) }, 'rollout step failed');
          }
        });
      }
      if (jobs.auditCheckpointsMs > 0 && service.signerKeyId !== undefined) {
        register('audit-checkpoints', jobs.auditCheckpointsMs, async ({ signal }) => {
          try {
            const report = await service.checkpointAudit(actor, { signal });
            const { seq, signedFrom } = report.checkpoint;
            logger?.info?.({ seq, signedFrom, anchors: report.anchors }, `audit checkpoint at seq ${seq}`);
            for (const f of report.failed) {
              logger?.warn?.({ anchor: f.anchor, err: f.message }, `audit checkpoint not kept in ${f.anchor}`);
            }
          } catch (error) {
            if (signal.aborted) return;
            // A trail that does not verify is never checkpointed: say so loudly, keep the agent running.
            const tampered = isConfigError(error, 'CHECKSUM_MISMATCH') || isConfigError(error, 'SIGNATURE_INVALID');
            const err = isConfigError(error) ? error.toJSON() : String(error);
            if (tampered) logger?.error?.({ err }, 'audit trail does not verify: no checkpoint written');
            else logger?.warn?.({ err }, 'audit checkpoint failed');
          }
        });
      } else if (jobs.auditCheckpointsMs > 0) {
        logger?.info?.({}, 'audit checkpoints off: the change service has no signing key');
      }
      if (rotation) {
        const manager = rotation;
        const audited = auditRotations(manager, { service, actor, logger });
        closers.unshift(async () => audited.stop());
        register('rotations', rotationSchedule, async ({ signal }) => {
          const report = await manager.runDue({ signal }).finally(() => audited.flush());
          // A run that left `rotating` for `idle` finished; `failed` (or an error) did not.
          for (const run of report.results) {
            if (run.state === 'failed' || run.error) metrics.rotations.inc({ result: 'failed' });
            else if (run.state === 'idle') metrics.rotations.inc({ result: 'success' });
          }
        });
      }
    },
    close() {
      closing ??= (async () => {
        for (const c of closers) await c().catch(() => {});
      })();
      return closing;
    },
  };
}
