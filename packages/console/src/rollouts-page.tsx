/**
 * `/ui/rollouts`: every ref whose head has rollout rules (`GET /api/v1/rollouts`), each rule with
 * its strategy, state, the share it serves now, the canary's schedule and step, and its health gate
 * with the last check the agent recorded. A progressive rule can be advanced one step, promoted,
 * aborted, paused or resumed, each behind a confirmation: the server applies core's transform and
 * writes a new version (a compare-and-set on the version shown); where the environments are guarded it answers
 * `409 APPROVAL_REQUIRED`, and the dialog offers a change request with the same move instead.
 */
import { useEffect, useState } from 'preact/hooks';
import { ProblemError } from './api';
import { ConfirmDialog } from './confirm-dialog';
import {
  type HealthGate,
  listRollouts,
  moveRollout,
  proposeRollout,
  type RolloutAction,
  type RolloutRuleView,
  type RolloutView,
} from './ops-api';
import { linkTo } from './router';
import './ops-pages.css';

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** `25 % (2500 bps)`. */
export const percent = (bps: number) => `${Number((bps / 100).toFixed(2))} % (${bps} bps)`;

const when = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : '');

const STATE_WORDS: Record<string, string> = {
  running: '▶ running',
  paused: '⏸ paused',
  promoted: '✓ promoted',
  aborted: '✗ aborted',
};

const VERBS: Record<RolloutAction, [string, string]> = {
  advance: ['Advance', 'advanced'],
  promote: ['Promote', 'promoted'],
  abort: ['Abort', 'aborted'],
  pause: ['Pause', 'paused'],
  resume: ['Resume', 'resumed'],
};

function gateText(gate: HealthGate): string {
  if (gate.kind === 'prometheus') {
    const bounds = [gate.min !== undefined ? `≥ ${gate.min}` : '', gate.max !== undefined ? `≤ ${gate.max}` : '']
      .filter(Boolean)
      .join(' and ');
    return `Prometheus: ${gate.query ?? ''}${bounds ? ` ${bounds}` : ''}`;
  }
  let where = gate.url ?? '';
  try {
    where = new URL(gate.url ?? '').origin; // a path or query may carry a credential
  } catch {
    // not a URL: shown as written
  }
  return `Webhook: ${where} answers 2xx`;
}

function GateCell({ rule }: { rule: RolloutRuleView }) {
  const last = rule.lastStep;
  const checked =
    last === undefined ? (
      <span class="gate-none">○ not checked yet</span>
    ) : last.action === 'aborted' ? (
      <span class="gate-failed">
        ✗ failed at v{last.version}: {last.gate}
      </span>
    ) : (
      <span class="gate-passed">
        ✓ passed at v{last.version}: {last.gate}
      </span>
    );
  return (
    <td>
      {rule.healthGate ? <div>{gateText(rule.healthGate)}</div> : <div>No health gate</div>}
      {rule.healthGate || last ? <div>Last check: {checked}</div> : null}
      {rule.nextStepAt ? <div>Next step due: {when(rule.nextStepAt)}</div> : null}
    </td>
  );
}

function StepCell({ rule }: { rule: RolloutRuleView }) {
  if (!rule.progressive) return <td>—</td>;
  if (rule.schedule === undefined) return <td>fixed share</td>;
  const step = rule.step ?? 0;
  return (
    <td>
      step {step + 1} of {rule.schedule.length}
      <ol class="schedule" aria-label={`Schedule of ${rule.id}`}>
        {rule.schedule.map((bps, i) => (
          <li key={bps} class={i === step ? 'now' : undefined} aria-current={i === step ? 'step' : undefined}>
            {i === step ? '▸ ' : ''}
            {bps / 100} %
          </li>
        ))}
      </ol>
    </td>
  );
}

interface Pending {
  ref: string;
  version: number;
  rule: RolloutRuleView;
  action: RolloutAction;
  step: 'confirm' | 'approval';
  environments?: string[];
}

function whatHappens(p: Pending): string {
  const r = p.rule;
  if (p.action === 'advance') {
    const next = r.schedule?.[(r.step ?? 0) + 1];
    return `Rule ${r.id} of ${p.ref} moves to its next step: ${next === undefined ? '?' : percent(next)} of the matching units get its patch. The units already in stay in.`;
  }
  if (p.action === 'promote') return `Rule ${r.id} of ${p.ref} is promoted: every matching unit gets its patch.`;
  if (p.action === 'pause') {
    return `Rule ${r.id} of ${p.ref} is paused: it keeps serving ${r.shareBps === undefined ? 'its share' : percent(r.shareBps)}, and the agent does not step it until it is resumed.`;
  }
  if (p.action === 'resume') return `Rule ${r.id} of ${p.ref} runs again: the agent steps it behind its health gate.`;
  return `Rule ${r.id} of ${p.ref} is aborted: no unit gets its patch any more. This cannot be resumed.`;
}

export function RolloutsPage({ onError }: { onError: (e: unknown) => void }) {
  const [items, setItems] = useState<RolloutView[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  /** The list's own failure: cleared by the next successful load (a move's error is not). */
  const [loadError, setLoadError] = useState<string | undefined>();
  const [status, setStatus] = useState<{ text: string; request?: string } | undefined>();
  const [pending, setPending] = useState<Pending | undefined>();
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    listRollouts()
      .then((list) => {
        setItems(list);
        setLoadError(undefined);
      })
      .catch((e: unknown) => {
        onError(e);
        setLoadError(messageOf(e));
      });
  }, [reload]);

  const confirm = async () => {
    if (!pending) return;
    const p = pending;
    setBusy(true);
    try {
      const written = await moveRollout(p.ref, p.rule.id, p.action, p.version);
      setPending(undefined);
      setStatus({ text: `Rule ${p.rule.id} of ${p.ref} ${VERBS[p.action][1]}: version ${written.version} written.` });
      setReload((r) => r + 1);
    } catch (e) {
      onError(e);
      if (e instanceof ProblemError && e.code === 'APPROVAL_REQUIRED') {
        const environments = Array.isArray(e.problem.environments) ? (e.problem.environments as string[]) : [];
        setPending({ ...p, step: 'approval', environments });
      } else {
        setPending(undefined);
        setError(
          e instanceof ProblemError && e.status === 412
            ? `Not ${VERBS[p.action][1]}: ${p.ref} moved past version ${p.version}. Nothing was written; the list is reloaded.`
            : `Not ${VERBS[p.action][1]}: ${messageOf(e)}`,
        );
        setReload((r) => r + 1);
      }
    } finally {
      setBusy(false);
    }
  };

  const propose = async () => {
    if (!pending) return;
    const p = pending;
    setBusy(true);
    try {
      const request = await proposeRollout(p.ref, p.rule.id, p.action, p.version);
      setPending(undefined);
      setStatus({
        text: `Change request ${request.id} created: rule ${p.rule.id} of ${p.ref} is ${VERBS[p.action][1]} once approved and applied.`,
        request: request.id,
      });
    } catch (e) {
      onError(e);
      setPending(undefined);
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };

  const ask = (item: RolloutView, rule: RolloutRuleView, action: RolloutAction) => {
    setStatus(undefined);
    setError(undefined);
    setPending({ ref: item.ref, version: item.version, rule, action, step: 'confirm' });
  };

  return (
    <article aria-labelledby="rollouts-title" class="ops">
      <h1 id="rollouts-title" tabIndex={-1}>
        Rollouts
      </h1>
      <p class="help">
        The configs whose head has rollout rules. Advancing, pausing, resuming, promoting or aborting a percentage or
        canary rule writes a new version; in guarded environments it becomes a change request.
      </p>
      {(error ?? loadError) !== undefined && (
        <p role="alert" class="error">
          {error ?? loadError}
        </p>
      )}
      <div role="status" class="notice-line">
        {status?.text}
        {status?.request !== undefined && (
          <>
            {' '}
            <a
              href={`/ui/approvals/${encodeURIComponent(status.request)}`}
              onClick={linkTo(`/approvals/${status.request}`)}
            >
              Open the change request
            </a>
          </>
        )}
      </div>
      {items === undefined && loadError === undefined && <p aria-live="polite">Loading…</p>}
      {items !== undefined && items.length === 0 && <p>No config has rollout rules.</p>}
      {items?.map((item) => (
        <section key={item.ref} aria-labelledby={`rollout-${item.ref}`} class="rollout" data-ref={item.ref}>
          <h2 id={`rollout-${item.ref}`}>
            <a href={`/ui/configs/${item.ref}`} onClick={linkTo(`/configs/${item.ref}`)}>
              {item.ref}
            </a>{' '}
            <span class="badge">v{item.version}</span> {item.enabled ? '' : <span class="badge">✗ disabled</span>}
          </h2>
          <p class="meta">
            {item.description ? `${item.description}. ` : ''}Version {item.version}
            {item.createdBy ? ` by ${item.createdBy}` : ''}
            {item.createdAt ? `, ${when(item.createdAt)}` : ''}
            {item.message ? `: “${item.message}”` : ''}
          </p>
          <table class="rules">
            <caption class="visually-hidden">Rollout rules of {item.ref}</caption>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Strategy</th>
                <th scope="col">State</th>
                <th scope="col">Serves now</th>
                <th scope="col">Canary step</th>
                <th scope="col">Health gate</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {item.rules.map((rule) => {
                const state = rule.state ?? 'running';
                const open = rule.progressive && (state === 'running' || state === 'paused');
                const canAdvance = open && rule.schedule !== undefined && (rule.step ?? 0) + 1 < rule.schedule.length;
                return (
                  <tr key={rule.id} data-rule={rule.id}>
                    <th scope="row">
                      {rule.id}
                      {rule.description ? <div class="meta">{rule.description}</div> : null}
                      {rule.enabled ? null : <div>✗ disabled</div>}
                    </th>
                    <td>{rule.strategy}</td>
                    <td class={`state-${state}`}>{rule.progressive ? STATE_WORDS[state] : '—'}</td>
                    <td class="share">
                      {rule.shareBps === undefined ? (
                        'every matching unit'
                      ) : (
                        <>
                          {percent(rule.shareBps)}
                          <span class="bar" aria-hidden="true">
                            <span class={`fill w${Math.round(rule.shareBps / 500) * 5}`} />
                          </span>
                        </>
                      )}
                    </td>
                    <StepCell rule={rule} />
                    {rule.progressive ? <GateCell rule={rule} /> : <td>—</td>}
                    <td class="row-actions">
                      {canAdvance && (
                        <button
                          type="button"
                          aria-label={`Advance ${rule.id} of ${item.ref}`}
                          onClick={() => ask(item, rule, 'advance')}
                        >
                          Advance
                        </button>
                      )}
                      {open && (
                        <button
                          type="button"
                          aria-label={`Promote ${rule.id} of ${item.ref}`}
                          onClick={() => ask(item, rule, 'promote')}
                        >
                          Promote
                        </button>
                      )}
                      {open && (
                        <button
                          type="button"
                          class="secondary"
                          aria-label={`${state === 'paused' ? 'Resume' : 'Pause'} ${rule.id} of ${item.ref}`}
                          onClick={() => ask(item, rule, state === 'paused' ? 'resume' : 'pause')}
                        >
                          {state === 'paused' ? 'Resume' : 'Pause'}
                        </button>
                      )}
                      {open && (
                        <button
                          type="button"
                          class="danger"
                          aria-label={`Abort ${rule.id} of ${item.ref}`}
                          onClick={() => ask(item, rule, 'abort')}
                        >
                          Abort
                        </button>
                      )}
                      {!open && '—'}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      ))}
      {pending !== undefined && (
        <ConfirmDialog
          title={
            pending.step === 'confirm'
              ? `${VERBS[pending.action][0]} rule ${pending.rule.id} of ${pending.ref}?`
              : 'Approval required'
          }
          confirmLabel={pending.step === 'confirm' ? VERBS[pending.action][0] : 'Propose a change request'}
          busy={busy}
          onConfirm={pending.step === 'confirm' ? confirm : propose}
          onCancel={() => setPending(undefined)}
        >
          {pending.step === 'confirm' ? (
            <>
              <p>{whatHappens(pending)}</p>
              <p>It is written as a new version on top of version {pending.version}.</p>
            </>
          ) : (
            <p>
              {pending.ref} is guarded in {pending.environments?.join(', ') || 'some environments'}: nothing was
              written. Propose this move as a change request for approval?
            </p>
          )}
        </ConfirmDialog>
      )}
    </article>
  );
}
