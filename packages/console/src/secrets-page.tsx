/**
 * `/ui/secrets`: the secrets' metadata (`GET /api/v1/secrets`): the current, previous and pending
 * version ids, the rotation policy and its run state; a secret's history (its versions with stage,
 * state, time and labels, and what the last rotation did) on demand; **Rotate now** behind a
 * confirmation (`POST /api/v1/secrets/<name>/rotate`), **Retry** of a failed run (`{ retry: true }`),
 * and the rotation policy set, edited or deleted (`PUT`/`DELETE .../rotation`), each in a modal
 * dialog. Never a value: the server serves none and
 * this page asks for none. A server started without secrets (`501`) is said so.
 */
import { useEffect, useState } from 'preact/hooks';
import { ConfirmDialog } from './confirm-dialog';
import {
  deleteRotationPolicy,
  getSecret,
  listSecrets,
  putRotationPolicy,
  type RotationView,
  retryRotation,
  rotateSecret,
  type SecretDetail,
  type SecretSummary,
} from './ops-api';
import { draftOf, type PolicyDraft, PolicyFields, policyInput } from './rotation-policy-form';
import './ops-pages.css';

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** What the dialog is about to do. */
type Action =
  | { kind: 'rotate' | 'retry' | 'delete-policy'; name: string }
  | { kind: 'policy'; name: string; draft: PolicyDraft; problem?: string | undefined };

const ACTION_WORDS: Record<
  Action['kind'],
  { title: (name: string) => string; confirm: string; failed: string; explain: (name: string) => string }
> = {
  rotate: {
    title: (name) => `Rotate ${name} now?`,
    confirm: 'Rotate now',
    failed: 'Not rotated',
    explain: (name) =>
      `A new version of ${name} is generated and made current; the configs that reference it get a new version so their clients reload. The previous version stays readable for the grace period, then is revoked.`,
  },
  retry: {
    title: (name) => `Retry the rotation of ${name}?`,
    confirm: 'Retry',
    failed: 'Not retried',
    explain: (name) =>
      `The failed run of ${name} resumes at the step that failed; the steps it finished are not done again.`,
  },
  'delete-policy': {
    title: (name) => `Delete the rotation policy of ${name}?`,
    confirm: 'Delete policy',
    failed: 'Not deleted',
    explain: (name) => `${name} is no longer rotated on a schedule. The secret and its versions stay.`,
  },
  policy: {
    title: (name) => `Rotation policy of ${name}`,
    confirm: 'Save policy',
    failed: 'Not saved',
    explain: () => '',
  },
};
const when = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : '—');

function duration(ms: number): string {
  if (ms === 0) return 'none';
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  return `${Math.round(ms / 1000)} s`;
}

function policyText(p: RotationView | undefined): string {
  if (!p) return 'no rotation policy';
  const every = p.intervalDays !== undefined ? `every ${p.intervalDays} d` : p.cron ? `cron ${p.cron}` : '';
  const generator = p.generator?.type === 'handler' ? `handler ${p.generator.name ?? ''}` : (p.generator?.type ?? '');
  return `${every}, grace ${duration(p.graceMs)}${generator ? `, ${generator}` : ''}${p.enabled ? '' : ' (disabled)'}`;
}

function StateText({ p }: { p: RotationView | undefined }) {
  if (!p) return <>—</>;
  if (p.state === 'failed')
    return (
      <span class="state-failed">
        ✗ failed at {p.error?.step ?? p.step}: {p.error?.code} {p.error?.message}
      </span>
    );
  if (p.state === 'rotating')
    return (
      <span class="state-rotating">
        ⟳ rotating: step {p.step}
        {p.run?.newVersion ? `, new version ${p.run.newVersion}` : ''}
        {p.run?.graceUntil ? `, grace until ${when(p.run.graceUntil)}` : ''}
      </span>
    );
  return <span class="state-idle">● idle</span>;
}

function History({ detail }: { detail: SecretDetail }) {
  const last = detail.rotation?.lastRun;
  return (
    <div class="secret-history" id={`history-${detail.name}`}>
      <table>
        <caption>Versions of {detail.name}</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Stage</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Labels</th>
          </tr>
        </thead>
        <tbody>
          {detail.versions.map((v) => (
            <tr key={v.version}>
              <th scope="row">{v.version}</th>
              <td>{v.stage ?? '—'}</td>
              <td>{v.state}</td>
              <td>{when(v.createdAt)}</td>
              <td>
                {Object.entries(v.labels ?? {})
                  .map(([k, val]) => `${k}=${val}`)
                  .join(', ') || '—'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        {last
          ? `Last rotation: version ${last.version} (previously ${last.previousVersion ?? 'none'}), started ${when(last.startedAt)}, completed ${when(last.completedAt)}; configs bumped: ${last.bumped.map((b) => `${b.ref} v${b.version}`).join(', ') || 'none'}.`
          : 'No completed rotation yet.'}
      </p>
    </div>
  );
}

export function SecretsPage({ onError }: { onError: (e: unknown) => void }) {
  const [data, setData] = useState<{ provider: string; kind: string; items: SecretSummary[] } | null | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [status, setStatus] = useState<string | undefined>();
  const [details, setDetails] = useState<Record<string, SecretDetail>>({});
  const [action, setAction] = useState<Action | undefined>();
  const [busy, setBusy] = useState(false);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    listSecrets()
      .then((d) => setData(d ?? null))
      .catch((e: unknown) => {
        onError(e);
        setError(messageOf(e));
      });
  }, [reload]);

  const toggle = async (name: string) => {
    if (details[name]) {
      const { [name]: _, ...rest } = details;
      setDetails(rest);
      return;
    }
    try {
      const detail = await getSecret(name);
      setDetails((d) => ({ ...d, [name]: detail }));
    } catch (e) {
      onError(e);
      setError(messageOf(e));
    }
  };

  const ask = (next: Action) => {
    setStatus(undefined);
    setError(undefined);
    setAction(next);
  };

  /** Refreshes an open history and the list after a change to `name`. */
  const refresh = async (name: string) => {
    const detail = await getSecret(name);
    setDetails((d) => (d[name] ? { ...d, [name]: detail } : d));
    setReload((r) => r + 1);
    return detail;
  };

  const run = async () => {
    if (action === undefined) return;
    const { name } = action;
    let body: ReturnType<typeof policyInput> | undefined;
    if (action.kind === 'policy') {
      body = policyInput(action.draft);
      if (typeof body === 'string') {
        setAction({ ...action, problem: body });
        return;
      }
    }
    setBusy(true);
    try {
      if (action.kind === 'rotate' || action.kind === 'retry') {
        const policy = action.kind === 'retry' ? await retryRotation(name) : await rotateSecret(name);
        const detail = await refresh(name);
        setStatus(
          policy.state === 'failed'
            ? `Rotation of ${name} failed at step ${policy.error?.step ?? policy.step}: ${policy.error?.message ?? ''}`
            : `Rotation of ${name} ${policy.state === 'rotating' ? `under way (step ${policy.step})` : 'done'}: the current version is ${detail.current ?? '—'}.`,
        );
      } else if (action.kind === 'delete-policy') {
        await deleteRotationPolicy(name);
        await refresh(name);
        setStatus(`The rotation policy of ${name} is deleted: it is no longer rotated on a schedule.`);
      } else {
        const stored = await putRotationPolicy(name, body as Exclude<typeof body, string | undefined>);
        await refresh(name);
        setStatus(`The rotation policy of ${name} is saved: ${policyText(stored)}.`);
      }
      setAction(undefined);
    } catch (e) {
      onError(e);
      setAction(undefined);
      setError(`${ACTION_WORDS[action.kind].failed}: ${messageOf(e)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article aria-labelledby="secrets-title" class="ops">
      <h1 id="secrets-title" tabIndex={-1}>
        Secrets
      </h1>
      <p class="help">Metadata only: version ids, stages, rotation policies and runs. Values are never shown.</p>
      {error !== undefined && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <div role="status" class="notice-line">
        {status}
      </div>
      {data === undefined && error === undefined && <p aria-live="polite">Loading…</p>}
      {data === null && (
        <p class="notice" id="no-secrets">
          This server has no secrets: it was started without a secrets provider.
        </p>
      )}
      {data && (
        <>
          <p>
            Provider <strong>{data.provider}</strong> ({data.kind}), {data.items.length} secret
            {data.items.length === 1 ? '' : 's'}.
          </p>
          {data.items.length === 0 ? (
            <p>No secret to show.</p>
          ) : (
            <table id="secrets">
              <caption class="visually-hidden">Secrets, their versions and rotation</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Current</th>
                  <th scope="col">Previous</th>
                  <th scope="col">Pending</th>
                  <th scope="col">Versions</th>
                  <th scope="col">Rotation policy</th>
                  <th scope="col">Rotation state</th>
                  <th scope="col">Last rotated</th>
                  <th scope="col">Next rotation</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((s) => (
                  <tr key={s.name} data-secret={s.name}>
                    <th scope="row">{s.name}</th>
                    <td class="current">{s.current ?? '—'}</td>
                    <td>{s.previous ?? '—'}</td>
                    <td>{s.pending ?? '—'}</td>
                    <td>{s.versions}</td>
                    <td>{policyText(s.rotation)}</td>
                    <td>
                      <StateText p={s.rotation} />
                    </td>
                    <td>{when(s.rotation?.lastRotatedAt)}</td>
                    <td>{when(s.rotation?.nextRotationAt)}</td>
                    <td class="row-actions">
                      <button
                        type="button"
                        class="secondary"
                        aria-expanded={details[s.name] ? 'true' : 'false'}
                        aria-controls={details[s.name] ? `history-${s.name}` : undefined}
                        aria-label={`History of ${s.name}`}
                        onClick={() => toggle(s.name)}
                      >
                        History
                      </button>
                      {s.rotation && (
                        <button
                          type="button"
                          aria-label={`Rotate now: ${s.name}`}
                          disabled={s.rotation.state === 'rotating'}
                          onClick={() => ask({ kind: 'rotate', name: s.name })}
                        >
                          Rotate now
                        </button>
                      )}
                      {s.rotation?.state === 'failed' && (
                        <button
                          type="button"
                          aria-label={`Retry rotation: ${s.name}`}
                          onClick={() => ask({ kind: 'retry', name: s.name })}
                        >
                          Retry
                        </button>
                      )}
                      <button
                        type="button"
                        class="secondary"
                        aria-label={`${s.rotation ? 'Edit' : 'Set'} policy of ${s.name}`}
                        onClick={() => ask({ kind: 'policy', name: s.name, draft: draftOf(s.rotation) })}
                      >
                        {s.rotation ? 'Edit policy' : 'Set policy'}
                      </button>
                      {s.rotation && (
                        <button
                          type="button"
                          class="danger"
                          aria-label={`Delete policy of ${s.name}`}
                          disabled={s.rotation.state === 'rotating'}
                          onClick={() => ask({ kind: 'delete-policy', name: s.name })}
                        >
                          Delete policy
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {data.items.map((s) => {
            const detail = details[s.name];
            return detail ? <History key={s.name} detail={detail} /> : null;
          })}
        </>
      )}
      {action !== undefined && (
        <ConfirmDialog
          title={ACTION_WORDS[action.kind].title(action.name)}
          confirmLabel={ACTION_WORDS[action.kind].confirm}
          busy={busy}
          onConfirm={run}
          onCancel={() => setAction(undefined)}
        >
          {action.kind === 'policy' ? (
            <PolicyFields
              draft={action.draft}
              problem={action.problem}
              onChange={(draft) => setAction({ ...action, draft, problem: undefined })}
            />
          ) : (
            <p>{ACTION_WORDS[action.kind].explain(action.name)}</p>
          )}
        </ConfirmDialog>
      )}
    </article>
  );
}
