/**
 * The approvals inbox (`/ui/approvals`): the change requests waiting for a decision or to be
 * applied; and one request (`/ui/approvals/<id>`): its diff against its base version, the approvals
 * it needs, who has decided, and approve (with a comment), reject (with a reason) and apply. The
 * requester is told they cannot approve their own request; a refusal of the server is shown as it is.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Principal } from './api';
import { SideBySideDiff } from './approval-diff';
import { ConfirmDialog } from './confirm-dialog';
import {
  applyRequest,
  approveRequest,
  type ChangeRequest,
  cancelRequest,
  getRequest,
  getVersion,
  listRequests,
  messageOf,
  refKeyOf,
  rejectRequest,
} from './pages-api';
import { linkTo } from './router';

const when = (iso: string | undefined) => (iso === undefined ? '' : new Date(iso).toLocaleString());

export function ApprovalsPage({ onError }: { onError: (e: unknown) => void }) {
  const [items, setItems] = useState<ChangeRequest[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    listRequests(['pending', 'approved'])
      .then(setItems)
      .catch((e: unknown) => {
        onError(e);
        setError(messageOf(e));
      });
  }, []);
  return (
    <article aria-labelledby="approvals-title">
      <h1 id="approvals-title" tabIndex={-1}>
        Approvals
      </h1>
      <p class="help">Change requests waiting for approval, and approved requests waiting to be applied.</p>
      {error !== undefined && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {items === undefined && error === undefined && <p aria-live="polite">Loading…</p>}
      {items !== undefined && items.length === 0 && <p id="approvals-empty">No change request is waiting.</p>}
      {items !== undefined && items.length > 0 && (
        <table>
          <caption class="visually-hidden">Change requests waiting for a decision or to be applied</caption>
          <thead>
            <tr>
              <th scope="col">Request</th>
              <th scope="col">Status</th>
              <th scope="col">Approvals</th>
              <th scope="col">Requested by</th>
              <th scope="col">Requested</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id}>
                <td>
                  <a
                    href={`/ui/approvals/${encodeURIComponent(r.id)}`}
                    onClick={linkTo(`/approvals/${encodeURIComponent(r.id)}`)}
                  >
                    {r.kind} {refKeyOf(r)}
                  </a>
                </td>
                <td>{r.status}</td>
                <td>
                  {approvalsOf(r)} of {r.requiredApprovals}
                </td>
                <td>{r.requestedBy}</td>
                <td>{when(r.requestedAt)}</td>
                <td>{r.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </article>
  );
}

const approvalsOf = (r: ChangeRequest) => r.approvals.filter((d) => d.decision === 'approve').length;

/**
 * The fields a diff compares: the checksummed content (as `GET /api/v1/diffs`). Metadata is left
 * out: the service stamps its own (the approvers, the request) on the version it applies, so the
 * base's would always look removed; the metadata a request sets is shown beside the diff.
 */
const contentOf = (c: { config?: unknown; overrides?: unknown; rollout?: unknown }) => ({
  config: c.config ?? {},
  overrides: c.overrides ?? {},
  rollout: c.rollout ?? null,
});

const hasKeys = (v: unknown) => typeof v === 'object' && v !== null && Object.keys(v).length > 0;

export function RequestPage({
  id,
  principal,
  onError,
}: {
  id: string;
  principal: Principal;
  onError: (e: unknown) => void;
}) {
  const [request, setRequest] = useState<ChangeRequest | undefined>();
  const [base, setBase] = useState<unknown>();
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [withdrawing, setWithdrawing] = useState(false);

  const fail = (e: unknown) => {
    onError(e);
    setError(messageOf(e));
  };

  useEffect(() => {
    getRequest(id)
      .then(async (r) => {
        setRequest(r);
        setBase(r.baseVersion > 0 ? contentOf(await getVersion(refKeyOf(r), r.baseVersion)) : null);
      })
      .catch(fail);
  }, [id]);

  const act = async (what: () => Promise<ChangeRequest>, done: (r: ChangeRequest) => string) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    try {
      const r = await what();
      setRequest(r);
      setComment('');
      setNotice(done(r));
    } catch (e) {
      fail(e);
    } finally {
      setBusy(false);
    }
  };

  if (request === undefined) {
    return (
      <article aria-labelledby="request-title">
        <h1 id="request-title" tabIndex={-1}>
          Change request
        </h1>
        {error !== undefined ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : (
          <p aria-live="polite">Loading…</p>
        )}
      </article>
    );
  }

  const ref = refKeyOf(request);
  const own = request.requestedBy === principal.id;
  const mine = request.approvals.find((d) => d.by === principal.id);
  const canDecide = request.status === 'pending' && !own && mine === undefined;

  return (
    <article aria-labelledby="request-title">
      <p>
        <a href="/ui/approvals" onClick={linkTo('/approvals')}>
          ← All approvals
        </a>
      </p>
      <h1 id="request-title" tabIndex={-1}>
        Change request: {request.kind} {ref}
      </h1>
      <dl class="facts">
        <dt>Status</dt>
        <dd id="request-status">{request.status}</dd>
        <dt>Requested by</dt>
        <dd>
          {request.requestedBy}, {when(request.requestedAt)}
        </dd>
        <dt>Message</dt>
        <dd>{request.message || '(none)'}</dd>
        <dt>Base version</dt>
        <dd>{request.baseVersion === 0 ? 'none (a new config)' : `v${request.baseVersion}`}</dd>
        <dt>Environments</dt>
        <dd>{request.environments.join(', ')}</dd>
        {request.status === 'pending' && (
          <>
            <dt>Expires</dt>
            <dd>{when(request.expiresAt)}</dd>
          </>
        )}
        {request.appliedVersion !== undefined && (
          <>
            <dt>Applied</dt>
            <dd>
              as v{request.appliedVersion} by {request.appliedBy}
            </dd>
          </>
        )}
        {request.reason !== undefined && (
          <>
            <dt>Reason</dt>
            <dd>
              {request.reason} ({request.closedBy})
            </dd>
          </>
        )}
      </dl>

      <section aria-labelledby="diff-title">
        <h2 id="diff-title">What it changes</h2>
        {request.kind === 'delete' ? (
          <p>Deletes {ref}.</p>
        ) : base === undefined ? (
          <p aria-live="polite">Loading the base version…</p>
        ) : (
          <SideBySideDiff
            before={base ?? {}}
            after={contentOf(request.proposed)}
            beforeLabel={request.baseVersion === 0 ? 'Before (none)' : `Base v${request.baseVersion}`}
            afterLabel="Proposed"
            caption={`Changes of ${ref} proposed against ${request.baseVersion === 0 ? 'nothing' : `v${request.baseVersion}`}`}
          />
        )}
        {request.kind !== 'delete' && hasKeys(request.proposed.metadata) && (
          <>
            <h3 id="proposed-metadata-title">Metadata it sets</h3>
            {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
            <pre id="proposed-metadata" tabIndex={0}>
              {JSON.stringify(request.proposed.metadata, null, 2)}
            </pre>
          </>
        )}
      </section>

      <section aria-labelledby="requirements-title">
        <h2 id="requirements-title">Approvals needed</h2>
        <table id="requirements">
          <caption class="visually-hidden">The approvals each guarded environment needs</caption>
          <thead>
            <tr>
              <th scope="col">Environment</th>
              <th scope="col">Needs</th>
              <th scope="col">Who may approve</th>
              <th scope="col">Approved</th>
            </tr>
          </thead>
          <tbody>
            {request.requirements.map((q) => {
              const got = request.approvals.filter(
                (d) => d.decision === 'approve' && d.environments.includes(q.environment),
              ).length;
              return (
                <tr key={q.environment}>
                  <th scope="row">{q.environment}</th>
                  <td>
                    {q.requiredApprovals} approval{q.requiredApprovals === 1 ? '' : 's'}
                  </td>
                  <td>{q.approvers.length === 0 ? 'anyone who may approve' : q.approvers.join(', ')}</td>
                  <td>
                    {got} of {q.requiredApprovals} <strong>{got >= q.requiredApprovals ? '✓ met' : '✗ not met'}</strong>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>

      <section aria-labelledby="decisions-title">
        <h2 id="decisions-title">Decisions</h2>
        {request.approvals.length === 0 ? (
          <p>Nobody has decided yet.</p>
        ) : (
          <ul id="decisions">
            {request.approvals.map((d) => (
              <li key={`${d.by}-${d.at}`}>
                <strong>{d.decision === 'approve' ? '✓ Approved' : '✗ Rejected'}</strong> by {d.by}, {when(d.at)}
                {d.comment ? `: “${d.comment}”` : ''}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section aria-labelledby="decide-title">
        <h2 id="decide-title">Your decision</h2>
        {error !== undefined && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {notice !== undefined && (
          <p role="status" class="notice">
            {notice}
          </p>
        )}
        {own && request.status === 'pending' && (
          <>
            <p id="own-request" class="note">
              You requested this change, so you cannot approve it: another person must approve it (no one approves their
              own change). You can withdraw it.
            </p>
            <label for="withdraw-reason">Reason for withdrawing (optional)</label>
            <textarea
              id="withdraw-reason"
              rows={2}
              value={comment}
              onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)}
            />
            <div class="actions">
              <button type="button" class="danger" disabled={busy} onClick={() => setWithdrawing(true)}>
                Withdraw request
              </button>
            </div>
            {withdrawing && (
              <ConfirmDialog
                title="Withdraw this change request?"
                confirmLabel="Withdraw"
                busy={busy}
                onCancel={() => setWithdrawing(false)}
                onConfirm={() => {
                  setWithdrawing(false);
                  void act(
                    () => cancelRequest(request.id, comment.trim()),
                    () => 'Withdrawn.',
                  );
                }}
              >
                <p>
                  The request to {request.kind} {ref} will be cancelled: nobody can approve or apply it afterwards.
                </p>
              </ConfirmDialog>
            )}
          </>
        )}
        {mine !== undefined && request.status === 'pending' && (
          <p class="note">You have already {mine.decision === 'approve' ? 'approved' : 'rejected'} this request.</p>
        )}
        {request.status !== 'pending' && request.status !== 'approved' && (
          <p class="note">This request is {request.status}: nothing more can be decided.</p>
        )}
        {canDecide && (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void act(
                () => approveRequest(request.id, comment.trim()),
                (r) => `Approved. The request is ${r.status}.`,
              );
            }}
          >
            <label for="decision-comment">Comment (a reason is required to reject)</label>
            <textarea
              id="decision-comment"
              rows={3}
              value={comment}
              onInput={(e) => setComment((e.target as HTMLTextAreaElement).value)}
            />
            <div class="actions">
              <button type="submit" disabled={busy}>
                Approve
              </button>
              <button
                type="button"
                class="danger"
                disabled={busy}
                onClick={() => {
                  if (comment.trim() === '') {
                    setError('Give a reason to reject (in the comment).');
                    return;
                  }
                  void act(
                    () => rejectRequest(request.id, comment.trim()),
                    () => 'Rejected.',
                  );
                }}
              >
                Reject
              </button>
            </div>
          </form>
        )}
        {request.status === 'approved' && (
          <div class="actions">
            <p class="note">Approved: it can be applied now.</p>
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                void act(
                  () => applyRequest(request.id),
                  (r) => `Applied as v${r.appliedVersion}.`,
                )
              }
            >
              Apply
            </button>
          </div>
        )}
      </section>
    </article>
  );
}
