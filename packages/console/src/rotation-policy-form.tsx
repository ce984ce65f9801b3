/**
 * The fields of a secret's rotation policy, inside the confirmation dialog of the secrets page:
 * every N days or a cron expression, the grace period in days, enabled. Labelled controls; the
 * form's value is lifted to the page, which sends it (`PUT /api/v1/secrets/<name>/rotation`).
 */
import type { RotationPolicyInput, RotationView } from './ops-api';

/** The form's state: what the fields hold, as typed. */
export interface PolicyDraft {
  kind: 'interval' | 'cron';
  intervalDays: string;
  cron: string;
  graceDays: string;
  enabled: boolean;
}

const DAY_MS = 86_400_000;

export function draftOf(p: RotationView | undefined): PolicyDraft {
  return {
    kind: p?.cron !== undefined ? 'cron' : 'interval',
    intervalDays: String(p?.intervalDays ?? 30),
    cron: p?.cron ?? '0 3 * * *',
    graceDays: String(p === undefined ? 1 : Math.floor(p.graceMs / DAY_MS)),
    enabled: p?.enabled ?? true,
  };
}

/** The request body, or the reason the draft cannot be sent (shown beside the fields). */
export function policyInput(d: PolicyDraft): RotationPolicyInput | string {
  const grace = Number(d.graceDays);
  if (!Number.isInteger(grace) || grace < 0) return 'The grace period must be a whole number of days, 0 or more.';
  if (d.kind === 'interval') {
    const days = Number(d.intervalDays);
    if (!Number.isInteger(days) || days < 1) return 'Rotate every: a whole number of days, 1 or more.';
    return { intervalDays: days, gracePeriodDays: grace, enabled: d.enabled };
  }
  if (d.cron.trim() === '') return 'The cron expression is empty.';
  return { cron: d.cron.trim(), gracePeriodDays: grace, enabled: d.enabled };
}

export function PolicyFields({
  draft,
  onChange,
  problem,
}: {
  draft: PolicyDraft;
  onChange: (d: PolicyDraft) => void;
  problem: string | undefined;
}) {
  const set = (patch: Partial<PolicyDraft>) => onChange({ ...draft, ...patch });
  const value = (e: Event) => (e.target as HTMLInputElement).value;
  return (
    <div class="policy-fields">
      <fieldset>
        <legend>Schedule</legend>
        <label>
          <input
            type="radio"
            name="policy-kind"
            checked={draft.kind === 'interval'}
            onChange={() => set({ kind: 'interval' })}
          />{' '}
          Every N days
        </label>
        <label>
          <input
            type="radio"
            name="policy-kind"
            checked={draft.kind === 'cron'}
            onChange={() => set({ kind: 'cron' })}
          />{' '}
          Cron expression
        </label>
      </fieldset>
      {draft.kind === 'interval' ? (
        <p>
          <label for="policy-days">Rotate every (days)</label>{' '}
          <input
            id="policy-days"
            type="number"
            min={1}
            value={draft.intervalDays}
            onInput={(e) => set({ intervalDays: value(e) })}
          />
        </p>
      ) : (
        <p>
          <label for="policy-cron">Cron expression</label>{' '}
          <input id="policy-cron" type="text" value={draft.cron} onInput={(e) => set({ cron: value(e) })} />
        </p>
      )}
      <p>
        <label for="policy-grace">Grace period (days)</label>{' '}
        <input
          id="policy-grace"
          type="number"
          min={0}
          value={draft.graceDays}
          onInput={(e) => set({ graceDays: value(e) })}
        />
      </p>
      <p>
        <label>
          <input
            type="checkbox"
            checked={draft.enabled}
            onChange={(e) => set({ enabled: (e.target as HTMLInputElement).checked })}
          />{' '}
          Enabled (scheduled rotations run)
        </label>
      </p>
      {problem !== undefined && (
        <p role="alert" class="error" id="policy-problem">
          {problem}
        </p>
      )}
    </div>
  );
}
