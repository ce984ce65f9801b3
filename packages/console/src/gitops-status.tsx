/**
 * The GitOps sync loop on the status page (`gitops` of `/api/v1/status`, docs/gitops.md "Sync loop"):
 * the repository and branch followed, the state, the applied commit and the head seen, what blocks it
 * (a force push waiting for `summit-config gitops accept`), drift, conflicts and open change requests.
 * Every value has an id (`gitops-*`) for tests; states are words, never only a colour.
 */
import type { GitopsStatus } from './pages-api';

const STATE_TEXT: Record<string, string> = {
  starting: 'starting (no round yet on this server’s agent)',
  synced: '✓ synced',
  applying: 'applying',
  blocked: '✗ blocked',
  error: '✗ error',
};

const shortSha = (sha: string | null) => (sha ? sha.slice(0, 12) : 'none');
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '');

/** The section; `gitops` null when the server reports none, `error` the code when it could not be read. */
export function GitopsSection({ gitops, error }: { gitops: GitopsStatus | null; error: string | undefined }) {
  return (
    <section aria-labelledby="gitops-title" id="gitops">
      <h2 id="gitops-title">GitOps sync</h2>
      {error !== undefined ? (
        <p id="gitops-error" role="alert" class="error">
          ✗ the sync loop’s status could not be read ({error})
        </p>
      ) : gitops === null ? (
        <p id="gitops-none">No GitOps sync loop reports to this server.</p>
      ) : (
        <GitopsFacts gitops={gitops} />
      )}
    </section>
  );
}

function GitopsFacts({ gitops }: { gitops: GitopsStatus }) {
  const list = (items: string[], none: string) => (items.length === 0 ? none : items.join(', '));
  return (
    <>
      {gitops.blocked && (
        <p id="gitops-blocked" role="alert" class="error">
          Blocked: {gitops.blocked.reason}. Nothing is applied until an operator runs{' '}
          <code>summit-config gitops accept {gitops.blocked.head}</code>.
        </p>
      )}
      <dl class="facts">
        <dt>Repository</dt>
        <dd id="gitops-repo">{gitops.repo}</dd>
        <dt>Branch</dt>
        <dd id="gitops-branch">
          {gitops.branch}
          {gitops.path ? ` (layout in ${gitops.path}/)` : ''}
        </dd>
        <dt>State</dt>
        <dd id="gitops-state" data-state={gitops.state}>
          {STATE_TEXT[gitops.state] ?? gitops.state}
          {gitops.leading ? '' : ' · this server’s agent does not lead'}
        </dd>
        <dt>Applied commit</dt>
        <dd id="gitops-applied" title={gitops.appliedCommit ?? undefined}>
          {shortSha(gitops.appliedCommit)}
          {gitops.appliedAt ? ` at ${when(gitops.appliedAt)}` : ''}
        </dd>
        <dt>Head seen</dt>
        <dd id="gitops-head" title={gitops.head ?? undefined}>
          {shortSha(gitops.head)}
          {gitops.headSeenAt ? ` at ${when(gitops.headSeenAt)}` : ''}
        </dd>
        <dt>Drift</dt>
        <dd id="gitops-drift">{list(gitops.drift, 'none')}</dd>
        <dt>Conflicts</dt>
        <dd id="gitops-conflicts">{list(gitops.conflicts, 'none')}</dd>
        <dt>Open change requests</dt>
        <dd id="gitops-requests">{list(gitops.requests, 'none')}</dd>
        <dt>Last error</dt>
        <dd id="gitops-last-error">{gitops.lastError ?? 'none'}</dd>
      </dl>
    </>
  );
}
