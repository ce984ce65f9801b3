/**
 * Canary stepping, a leader job: every progressive rule (percentage or canary) with a `schedule` and a
 * `stepIntervalMinutes` moves to its next step once the interval has passed since the document's last
 * version, if its health gate passes; past the last step it is promoted. A failing gate aborts the rule
 * (no unit gets the candidate any more: the rollout is rolled back). Each move is a new version written
 * through the change service with an actor holding `rollout:step`, so RBAC and audit apply and no new
 * approval is needed for a plan that was approved already.
 */
import {
  type Actor,
  abortRollout,
  advanceRollout,
  type ConfigService,
  type ConfigVersion,
  type HealthGate,
  isConfigError,
  promoteRollout,
  type RolloutSpec,
  validateRollout,
} from '@summit-config/core';
import { messageOf } from '@summit-config/core/internal';

export interface GateResult {
  healthy: boolean;
  /** Why (status code, metric value, error message); never a secret. */
  detail: string;
}

export interface GateOptions {
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Prometheus base URL when the gate has none. */
  prometheusUrl?: string;
  signal?: AbortSignal;
}

/**
 * Evaluates a health gate. A webhook is healthy when it answers 2xx (and, when the body is JSON with a
 * boolean `healthy`, when that is true). A Prometheus gate runs an instant query and is healthy when the
 * first sample lies within `[min, max]`. Any error (timeout, refused, bad answer) is unhealthy.
 */
export async function checkHealthGate(gate: HealthGate, options: GateOptions = {}): Promise<GateResult> {
  const timeout = AbortSignal.timeout(
    gate.kind === 'webhook' ? (gate.timeoutMs ?? options.timeoutMs ?? 5000) : (options.timeoutMs ?? 5000),
  );
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    if (gate.kind === 'webhook') {
      const res = await fetch(gate.url, { signal, headers: { accept: 'application/json' } });
      const text = await res.text();
      if (res.status < 200 || res.status >= 300)
        return { healthy: false, detail: `webhook answered HTTP ${res.status}` };
      try {
        const body = JSON.parse(text) as { healthy?: unknown };
        if (typeof body.healthy === 'boolean') {
          return { healthy: body.healthy, detail: `webhook says healthy=${body.healthy}` };
        }
      } catch {
        // not JSON: the status decides
      }
      return { healthy: true, detail: `webhook answered HTTP ${res.status}` };
    }
    const base = gate.url ?? options.prometheusUrl;
    if (!base) return { healthy: false, detail: 'prometheus gate has no url and the agent has no prometheusUrl' };
    const url = new URL('/api/v1/query', base);
    url.searchParams.set('query', gate.query);
    const res = await fetch(url, { signal });
    if (!res.ok) return { healthy: false, detail: `prometheus answered HTTP ${res.status}` };
    const body = (await res.json()) as { status?: string; data?: { result?: Array<{ value?: [number, string] }> } };
    const sample = body.data?.result?.[0]?.value?.[1];
    const value = sample === undefined ? Number.NaN : Number(sample);
    if (body.status !== 'success' || !Number.isFinite(value)) {
      return { healthy: false, detail: 'prometheus query returned no numeric sample' };
    }
    const within = (gate.min === undefined || value >= gate.min) && (gate.max === undefined || value <= gate.max);
    return {
      healthy: within,
      detail: `${gate.query} = ${value} (allowed ${gate.min ?? '-inf'}..${gate.max ?? '+inf'})`,
    };
  } catch (error) {
    return { healthy: false, detail: `gate check failed: ${messageOf(error)}` };
  }
}

export interface RolloutStep {
  ref: string;
  ruleId: string;
  action: 'advanced' | 'promoted' | 'aborted';
  fromVersion: number;
  toVersion?: number;
  detail: string;
}

export interface StepRolloutsOptions extends GateOptions {
  service: ConfigService;
  /** Needs `config:read`, `config:list`, `config:write` and `rollout:step`. */
  actor: Actor;
  /** Default `Date.now()`. */
  now?: number;
}

/** Steps every due progressive rule once. Returns what moved; a ref whose write fails is reported and skipped. */
export async function stepRollouts(options: StepRolloutsOptions): Promise<{ steps: RolloutStep[]; errors: Error[] }> {
  const { service, actor } = options;
  const now = options.now ?? Date.now();
  const steps: RolloutStep[] = [];
  const failures: Error[] = [];
  for (const head of await service.list(actor)) {
    const doc = await service.get(actor, head.ref);
    if (!doc?.rollout || doc.metadata.deleted === true) continue;
    try {
      const step = await stepDocument(doc, now, options);
      if (step) steps.push(step);
    } catch (error) {
      if (!isConfigError(error)) throw error;
      failures.push(error);
    }
  }
  return { steps, errors: failures };
}

async function stepDocument(
  doc: ConfigVersion,
  now: number,
  options: StepRolloutsOptions,
): Promise<RolloutStep | undefined> {
  const spec: RolloutSpec = validateRollout(doc.rollout);
  const since = now - Date.parse(doc.createdAt);
  for (const rule of spec.rules ?? []) {
    if (rule.strategy !== 'percentage' && rule.strategy !== 'canary') continue;
    if (rule.schedule === undefined || rule.stepIntervalMinutes === undefined) continue;
    if ((rule.state ?? 'running') !== 'running') continue;
    if (since < rule.stepIntervalMinutes * 60_000) continue;
    const gate = rule.healthGate
      ? await checkHealthGate(rule.healthGate, options)
      : { healthy: true, detail: 'no health gate' };
    const last = (rule.step ?? 0) + 1 >= rule.schedule.length;
    const action: RolloutStep['action'] = !gate.healthy ? 'aborted' : last ? 'promoted' : 'advanced';
    const next =
      action === 'aborted'
        ? abortRollout(spec, rule.id)
        : action === 'promoted'
          ? promoteRollout(spec, rule.id)
          : advanceRollout(spec, rule.id);
    const share = action === 'advanced' ? ` to ${rule.schedule[(rule.step ?? 0) + 1]} bps` : '';
    const written = await options.service.set(
      options.actor,
      {
        ref: doc.ref,
        config: doc.config,
        overrides: { ...doc.overrides },
        rollout: next as unknown as ConfigVersion['config'],
        message: `rollout ${rule.id}: ${action}${share} (${gate.detail})`,
      },
      { expectedVersion: doc.version, source: 'agent' },
    );
    // One rule per document per run: the next run sees the new version.
    return {
      ref: `${doc.ref.scope}/${doc.ref.id}`,
      ruleId: rule.id,
      action,
      fromVersion: doc.version,
      toVersion: written.version,
      detail: gate.detail,
    };
  }
  return undefined;
}
