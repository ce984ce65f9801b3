/**
 * The leader jobs' own audit events, written through the change service (`recordEvent`), so they are
 * signed with the writer key and chained like every other event:
 *
 * - `drift.found`: a drift finding of a scan that the previous scan of this agent did not report
 *   (a finding that persists is audited once, not every run);
 * - `drift.repaired`: a finding that remediation repaired;
 * - `secret.rotation.succeeded` / `secret.rotation.failed`: the end of a rotation run of the agent's
 *   rotation manager.
 *
 * The action names and message formats are documented in docs/audit-trail.md ("Events of the
 * agent's jobs"). A failed audit write is logged and never fails the job (the finding is still
 * reported as a metric, an event and a log line).
 */
import { type Actor, type ConfigService, isConfigError } from '@summit-config/core';
import type { RotationManager } from '@summit-config/secrets';
import type { DriftFinding, DriftReport } from './drift.js';
import type { AgentLogger } from './util.js';

/** The audit actions the agent's jobs write. */
export const JOB_AUDIT_ACTIONS = {
  driftFound: 'drift.found',
  driftRepaired: 'drift.repaired',
  rotationSucceeded: 'secret.rotation.succeeded',
  rotationFailed: 'secret.rotation.failed',
} as const;

/** What a job auditor writes through: the agent's change service and actor, and a logger for failures. */
export interface JobAuditTarget {
  readonly service: ConfigService;
  readonly actor: Actor;
  readonly logger?: AgentLogger | undefined;
}

type RecordInput = Parameters<ConfigService['recordEvent']>[1];

async function record(target: JobAuditTarget, input: RecordInput): Promise<boolean> {
  try {
    await target.service.recordEvent(target.actor, input, { source: 'agent' });
    return true;
  } catch (error) {
    target.logger?.warn?.(
      { action: input.action, err: isConfigError(error) ? error.toJSON() : String(error) },
      `audit event ${input.action} not written`,
    );
    return false;
  }
}

/** The identity of a finding across runs: its kind and where it is. */
function findingKey(f: DriftFinding): string {
  return [f.kind, f.ref, f.tier ?? '', f.instance ?? '', f.environment ?? ''].join('\u0000');
}

/** The `ref`/`environment` fields of a finding's event (`environment` for instance findings). */
function placeOf(f: DriftFinding): { ref?: string; environment?: string } {
  return {
    ...(f.ref.includes('/') ? { ref: f.ref } : {}),
    ...(f.environment !== undefined ? { environment: f.environment } : {}),
  };
}

/** Audits drift runs; remembers the previous run's findings so that a lasting finding is audited once. */
export interface DriftAuditor {
  /**
   * Writes `drift.found` for each finding of `report` not in the previous report, and
   * `drift.repaired` for each finding repaired. Resolves when written; never rejects.
   */
  record(report: DriftReport): Promise<void>;
}

/** Creates a drift auditor over the agent's change service. */
export function createDriftAuditor(target: JobAuditTarget): DriftAuditor {
  let previous = new Set<string>();
  return {
    async record(report) {
      const current = new Set<string>();
      for (const f of report.findings) {
        if (f.source !== 'scan') continue;
        const key = findingKey(f);
        current.add(key);
        if (!previous.has(key)) {
          await record(target, {
            action: JOB_AUDIT_ACTIONS.driftFound,
            permission: 'config:read',
            message: `${f.kind}: ${f.message}`,
            ...placeOf(f),
          });
        }
        if (f.remediated === true) {
          await record(target, {
            action: JOB_AUDIT_ACTIONS.driftRepaired,
            permission: 'config:write',
            message: `${f.kind} repaired: ${f.remediation ?? f.message}`,
            ...placeOf(f),
          });
          // Repaired: should it come back, it is a new finding.
          current.delete(key);
        }
      }
      previous = current;
    },
  };
}

/**
 * Audits the end of every rotation run of `manager` (`completed` as `secret.rotation.succeeded`,
 * `failed` as `secret.rotation.failed`). Returns `flush()`, which resolves when every event seen so
 * far is written (call it at the end of the rotation job), and `stop()`, which removes the listeners.
 */
export function auditRotations(
  manager: RotationManager,
  target: JobAuditTarget,
): { flush(): Promise<void>; stop(): void } {
  const pending = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const offCompleted = manager.on('completed', (e) => {
    const secret = `${e.secret.provider}/${e.secret.name}`;
    track(
      record(target, {
        action: JOB_AUDIT_ACTIONS.rotationSucceeded,
        permission: 'secrets:rotate',
        message: `secret ${secret} rotated to version ${e.version}${e.previousVersion === undefined ? '' : ` (from ${e.previousVersion})`}, run ${e.runId}`,
      }),
    );
  });
  const offFailed = manager.on('failed', (e) => {
    const secret = `${e.secret.provider}/${e.secret.name}`;
    track(
      record(target, {
        action: JOB_AUDIT_ACTIONS.rotationFailed,
        permission: 'secrets:rotate',
        message: `secret ${secret} rotation failed at step ${e.step} after ${e.error.attempts} attempt(s): ${e.error.code}: ${e.error.message}, run ${e.runId}`,
      }),
    );
  });
  return {
    async flush() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    stop() {
      offCompleted();
      offFailed();
    },
  };
}
