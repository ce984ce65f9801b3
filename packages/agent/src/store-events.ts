/**
 * What the agent does with a store chain's event: metrics, a log line, and the same event on
 * `agent.events` (`store`, plus `reconciled` and drift findings).
 */
import type { FailoverEvent } from '@summit-config/backends';
import type { DriftFinding } from './drift.js';
import type { AgentEvents } from './events.js';
import type { AgentMetrics } from './metrics.js';
import { type AgentLogger, toConfigError } from './util.js';

export interface StoreEventSinks {
  readonly metrics: AgentMetrics;
  readonly logger: AgentLogger | undefined;
  readonly events: AgentEvents;
  reportDrift(finding: DriftFinding): void;
}

export function observeStoreEvent(event: FailoverEvent, sinks: StoreEventSinks): void {
  const { metrics, logger, events, reportDrift } = sinks;
  switch (event.type) {
    case 'breaker': {
      metrics.failovers.inc({ tier: event.tier, from: event.from, to: event.to });
      metrics.tierUp.set({ tier: event.tier }, event.to === 'closed' ? 1 : 0);
      const tls = event.to === 'open' ? tlsFailure(event.error) : undefined;
      if (tls) metrics.storeTlsErrors.inc({ tier: event.tier });
      logger?.warn?.(
        {
          tier: event.tier,
          from: event.from,
          to: event.to,
          error: event.error ? String(event.error) : undefined,
          ...(tls ? { tls } : {}),
        },
        tls ? 'store tier breaker: TLS failure' : 'store tier breaker',
      );
      break;
    }
    case 'watch-switch':
      logger?.info?.({ from: event.from, to: event.to }, 'watch switched tier');
      break;
    case 'unsynced-write':
      metrics.unsyncedWrites.inc();
      break;
    case 'drift':
      reportDrift({
        kind: 'checksum-mismatch',
        ref: event.ref,
        source: 'read',
        tier: event.tier,
        version: event.error.version,
        message: `read of ${event.ref} from ${event.tier}: ${event.error.message}`,
      });
      break;
    case 'reconciled':
      metrics.reconcileRuns.inc({ result: 'ok' });
      metrics.reconcileCopied.inc(event.report.copied.length);
      metrics.reconcileConflicts.inc(event.report.conflicts.length);
      if (event.report.copied.length > 0 || event.report.conflicts.length > 0) {
        logger?.info?.(
          {
            copied: event.report.copied.length,
            conflicts: event.report.conflicts,
            incomplete: event.report.incomplete,
          },
          'reconciled',
        );
      }
      events.emit('reconciled', event.report);
      break;
    case 'reconcile-failed':
      metrics.reconcileRuns.inc({ result: 'error' });
      logger?.warn?.({ err: toConfigError(event.error).toJSON() }, 'reconciliation failed');
      break;
    case 'divergence':
      metrics.divergentRefs.set(event.refs);
      break;
    case 'renumbered':
      metrics.renumberedWrites.inc();
      logger?.warn?.(
        { ref: event.ref, version: event.version, reappendedAs: event.reappendedAs },
        'a write made during a partition was re-appended under a new number',
      );
      break;
    case 'mirror-reset':
      metrics.mirrorResets.inc();
      logger?.warn?.(
        { tier: event.tier, found: event.found, expected: event.expected },
        'the mirror came back without the chain epoch: rebuilding it from the record before it serves',
      );
      break;
    case 'regressed':
      logger?.error?.(
        { ref: event.ref, seen: event.seen },
        'a version this process had seen exists in no store any more (lost with a wiped store)',
      );
      break;
  }
  events.emit('store', event);
}

/**
 * The TLS failure behind a tier's error, when there is one: the message of a `ConsulTlsError` (the
 * Consul store's, found by name so this module does not load the Consul driver) among its causes
 * and the tiers' failures.
 */
function tlsFailure(error: unknown, depth = 0): string | undefined {
  if (error === null || typeof error !== 'object' || depth > 8) return undefined;
  const e = error as { name?: unknown; message?: unknown; cause?: unknown; failures?: unknown };
  if (e.name === 'ConsulTlsError' && typeof e.message === 'string') return e.message;
  const found = tlsFailure(e.cause, depth + 1);
  if (found) return found;
  if (Array.isArray(e.failures)) {
    for (const f of e.failures as Array<{ error?: unknown }>) {
      const inner = tlsFailure(f?.error, depth + 1);
      if (inner) return inner;
    }
  }
  return undefined;
}
