/**
 * One config: its resolved value per environment with explain, its raw document (the head, or a
 * version picked in the history) and an editor for it, its versions with a side-by-side diff of any
 * two, and a rollback to any version behind a confirmation dialog.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  type ConfigVersion,
  deleteConfig,
  getConfig,
  getDiff,
  listVersions,
  type PatchOp,
  ProblemError,
  proposeChange,
  rollback,
  type VersionInfo,
} from './api';
import { ConfirmDialog } from './confirm-dialog';
import { SideBySide } from './diff-view';
import { EditorPage } from './editor-page';
import { ResolvedView } from './resolved-view';
import { linkTo } from './router';
import './config-pages.css';

/** What `GET /diffs` compares: `{ config, overrides, rollout, deleted }`. */
const diffView = (doc: ConfigVersion, deleted: boolean) => ({
  config: doc.config ?? {},
  overrides: doc.overrides ?? {},
  rollout: doc.rollout ?? null,
  deleted,
});

interface Diff {
  from: number;
  to: number;
  left: unknown;
  right: unknown;
  patch: PatchOp[];
}

/** A write behind a confirmation: a rollback to version `to`, or a delete (`to` undefined). */
type RollbackState =
  | { step: 'confirm'; to: number | undefined; head: number }
  | { step: 'approval'; to: number | undefined; head: number; environments: string[] };

const actionOf = (roll: RollbackState) => (roll.to === undefined ? 'delete' : `rollback to version ${roll.to}`);

/** The page's sub-view in its URL: `?edit`, or `?from=N&to=M` for a diff (kept on reload, shareable). */
function readQuery(): { edit: boolean; from?: number; to?: number } {
  const q = new URLSearchParams(location.search);
  const n = (name: string) => {
    const v = Number(q.get(name));
    return Number.isInteger(v) && v > 0 ? v : undefined;
  };
  return { edit: q.has('edit'), from: n('from'), to: n('to') };
}

function writeQuery(query: { edit?: boolean; from?: number; to?: number }): void {
  const parts: string[] = [];
  if (query.edit) parts.push('edit');
  if (query.from !== undefined && query.to !== undefined) parts.push(`from=${query.from}`, `to=${query.to}`);
  history.replaceState(history.state, '', `${location.pathname}${parts.length > 0 ? `?${parts.join('&')}` : ''}`);
}

export function ConfigPage({ refKey, onError }: { refKey: string; onError: (e: unknown) => void }) {
  const [initial] = useState(readQuery);
  const [versions, setVersions] = useState<VersionInfo[] | undefined>();
  const [selected, setSelected] = useState<number | undefined>();
  const [doc, setDoc] = useState<ConfigVersion | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [reload, setReload] = useState(0);
  const [editing, setEditing] = useState(initial.edit);
  const [status, setStatus] = useState<string | undefined>();
  const [from, setFrom] = useState<number | undefined>(initial.from);
  const [to, setTo] = useState<number | undefined>(initial.to);
  const [diff, setDiff] = useState<Diff | undefined>();
  const [roll, setRoll] = useState<RollbackState | undefined>();
  const [busy, setBusy] = useState(false);

  // Leaving the editor (saved or cancelled) puts focus back on its Edit button.
  const editButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);
  useEffect(() => {
    if (wasEditing.current && !editing) editButton.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  const fail = (e: unknown) => {
    onError(e);
    setError(e instanceof Error ? e.message : String(e));
  };

  useEffect(() => {
    listVersions(refKey)
      .then((items) => {
        setVersions(items);
        setTo((v) => v ?? items[0]?.version);
        setFrom((v) => v ?? items[1]?.version ?? items[0]?.version);
      })
      .catch(fail);
  }, [refKey, reload]);

  useEffect(() => {
    setDoc(undefined);
    getConfig(refKey, selected).then(setDoc).catch(fail);
  }, [refKey, selected, reload]);

  const raw =
    doc === undefined
      ? ''
      : JSON.stringify(
          { config: doc.config, overrides: doc.overrides, rollout: doc.rollout, metadata: doc.metadata },
          null,
          2,
        );
  const head = versions?.[0]?.version;

  const showDiff = async (from: number, to: number) => {
    setError(undefined);
    try {
      const deleted = (v: number) => versions?.find((x) => x.version === v)?.deleted === true;
      const [d, a, b] = await Promise.all([getDiff(refKey, from, to), getConfig(refKey, from), getConfig(refKey, to)]);
      setDiff({ from, to, left: diffView(a, deleted(from)), right: diffView(b, deleted(to)), patch: d.patch });
    } catch (err) {
      fail(err);
    }
  };
  const compare = (e: Event) => {
    e.preventDefault();
    if (from !== undefined && to !== undefined) void showDiff(from, to);
  };

  // The URL follows the sub-view; a diff named in it is shown once the versions are known.
  useEffect(() => writeQuery({ edit: editing, from: diff?.from, to: diff?.to }), [editing, diff]);
  const opened = useRef(false);
  useEffect(() => {
    if (opened.current || versions === undefined) return;
    opened.current = true;
    if (initial.from !== undefined && initial.to !== undefined) void showDiff(initial.from, initial.to);
  }, [versions]);

  const doRollback = async () => {
    if (roll === undefined) return;
    setBusy(true);
    try {
      if (roll.to === undefined) {
        const written = await deleteConfig(refKey, roll.head, 'deleted from the console');
        setStatus(`Deleted: version ${written.version} is a tombstone; the history stays.`);
      } else {
        const written = await rollback(refKey, roll.to, roll.head, `rollback to v${roll.to} from the console`);
        setStatus(`Rolled back: version ${written.version} has the content of version ${roll.to}.`);
      }
      setRoll(undefined);
      setSelected(undefined);
      setReload((r) => r + 1);
    } catch (err) {
      onError(err);
      if (err instanceof ProblemError && err.code === 'APPROVAL_REQUIRED') {
        const environments = Array.isArray(err.problem.environments) ? (err.problem.environments as string[]) : [];
        setRoll({ ...roll, step: 'approval', environments });
      } else {
        setRoll(undefined);
        setError(
          err instanceof ProblemError && err.status === 412
            ? `Not ${roll.to === undefined ? 'deleted' : 'rolled back'}: the head moved past version ${roll.head}. Nothing was written; the history is reloaded.`
            : err instanceof Error
              ? err.message
              : String(err),
        );
        setReload((r) => r + 1);
      }
    } finally {
      setBusy(false);
    }
  };

  const proposeRollback = async () => {
    if (roll === undefined) return;
    setBusy(true);
    try {
      const request = await proposeChange(
        roll.to === undefined
          ? { ref: refKey, kind: 'delete', baseVersion: roll.head }
          : { ref: refKey, kind: 'rollback', to: roll.to, baseVersion: roll.head },
      );
      setRoll(undefined);
      setStatus(`Change request ${request.id} created: the ${actionOf(roll)} awaits approval.`);
    } catch (err) {
      setRoll(undefined);
      fail(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article aria-labelledby="config-title">
      <p>
        <a href="/ui/" onClick={linkTo('/')}>
          ← All configs
        </a>
      </p>
      <h1 id="config-title" tabIndex={-1}>
        {refKey}
      </h1>
      {error !== undefined && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <p role="status" id="config-status">
        {status}
      </p>
      <ResolvedView refKey={refKey} reload={reload} onError={onError} />
      {editing ? (
        <EditorPage
          refKey={refKey}
          onError={onError}
          onCancel={() => setEditing(false)}
          onHeadMoved={() => setReload((r) => r + 1)}
          onSaved={(version) => {
            setEditing(false);
            setSelected(undefined);
            setStatus(`Saved as version ${version}.`);
            setReload((r) => r + 1);
          }}
        />
      ) : (
        <section aria-labelledby="raw-title">
          <h2 id="raw-title">
            Raw document{' '}
            {doc !== undefined && (
              <span class="badge">
                version {doc.version}
                {selected === undefined ? ' (head)' : ''}
              </span>
            )}
          </h2>
          <p>
            <button
              ref={editButton}
              type="button"
              onClick={() => {
                setStatus(undefined);
                setEditing(true);
              }}
            >
              Edit
            </button>{' '}
            {head !== undefined && versions?.[0]?.deleted !== true && (
              <button type="button" class="secondary" onClick={() => setRoll({ step: 'confirm', to: undefined, head })}>
                Delete
              </button>
            )}
          </p>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
          <pre id="raw" tabIndex={0} aria-busy={doc === undefined}>
            {raw}
          </pre>
        </section>
      )}
      <section aria-labelledby="history-title">
        <h2 id="history-title">Version history</h2>
        {versions === undefined ? (
          <p>Loading…</p>
        ) : (
          <table>
            <caption class="visually-hidden">Versions of {refKey}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Created</th>
                <th scope="col">By</th>
                <th scope="col">Message</th>
                <th scope="col">Document</th>
                <th scope="col">Rollback</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => {
                const current = (selected ?? versions[0]?.version) === v.version;
                return (
                  <tr key={v.version} class={current ? 'current' : undefined}>
                    <td>
                      v{v.version}
                      {v.deleted ? ' (deleted)' : ''}
                      {v.version === head ? ' (head)' : ''}
                    </td>
                    <td>{v.createdAt === undefined ? '' : new Date(v.createdAt).toLocaleString()}</td>
                    <td>{v.createdBy ?? ''}</td>
                    <td>{v.message ?? ''}</td>
                    <td>
                      {current ? (
                        <span>Shown</span>
                      ) : (
                        <button type="button" onClick={() => setSelected(v.version)}>
                          Show v{v.version}
                        </button>
                      )}
                    </td>
                    <td>
                      {v.version !== head && !v.deleted && head !== undefined && (
                        <button
                          type="button"
                          class="secondary"
                          onClick={() => setRoll({ step: 'confirm', to: v.version, head })}
                        >
                          Roll back to v{v.version}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      {versions !== undefined && versions.length > 0 && (
        <section aria-labelledby="compare-title">
          <h2 id="compare-title">Compare two versions</h2>
          <form class="filters" onSubmit={compare}>
            <div>
              <label for="diff-from">From version</label>
              <select
                id="diff-from"
                value={from}
                onChange={(e) => setFrom(Number((e.target as HTMLSelectElement).value))}
              >
                {versions.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <label for="diff-to">To version</label>
              <select id="diff-to" value={to} onChange={(e) => setTo(Number((e.target as HTMLSelectElement).value))}>
                {versions.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </div>
            <div class="align-end">
              <button type="submit">Compare</button>
            </div>
          </form>
          <div aria-live="polite">
            {diff !== undefined && (
              <SideBySide
                id="version-diff"
                left={{ title: `Version ${diff.from}`, value: diff.left }}
                right={{ title: `Version ${diff.to}`, value: diff.right }}
                patch={diff.patch}
              />
            )}
          </div>
        </section>
      )}
      {roll !== undefined && (
        <ConfirmDialog
          title={
            roll.step !== 'confirm'
              ? 'Approval required'
              : roll.to === undefined
                ? `Delete ${refKey}?`
                : `Roll back to version ${roll.to}?`
          }
          confirmLabel={
            roll.step !== 'confirm'
              ? 'Create change request'
              : roll.to === undefined
                ? `Delete ${refKey}`
                : `Roll back to v${roll.to}`
          }
          busy={busy}
          onConfirm={roll.step === 'confirm' ? doRollback : proposeRollback}
          onCancel={() => setRoll(undefined)}
        >
          {roll.step === 'confirm' && roll.to === undefined ? (
            <p>
              This writes version {roll.head + 1} of <strong>{refKey}</strong> as a tombstone: every environment stops
              being served it. The history stays, and a rollback brings it back.
            </p>
          ) : roll.step === 'confirm' ? (
            <p>
              This writes version {roll.head + 1} of <strong>{refKey}</strong> with the content of version {roll.to}.
              Version {roll.head} stays in the history.
            </p>
          ) : (
            <p>
              The {roll.to === undefined ? 'delete' : 'rollback'} touches guarded environment
              {roll.environments.length === 1 ? '' : 's'} <strong>{roll.environments.join(', ')}</strong>. Propose it as
              a change request instead?
            </p>
          )}
        </ConfirmDialog>
      )}
    </article>
  );
}
