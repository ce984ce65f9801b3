/**
 * The store's status (`/ui/status`): which tier serves, each tier's breaker, divergent and unsynced
 * refs, the GitOps sync loop, and the latest drift report. Refreshed live: at every change on the watch stream
 * (`GET /api/v1/watch?snapshot=false`, Server-Sent Events with the session cookie) and every 5 s,
 * with the time of the last refresh on the page.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api';
import { GitopsSection } from './gitops-status';
import { type DriftReport, getDrift, getStatus, messageOf, type StoreStatus } from './pages-api';

const INTERVAL_MS = 5000;

type Drift = { report: DriftReport } | { none: string };

async function driftOf(): Promise<Drift> {
  try {
    return { report: await getDrift() };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return { none: 'No drift run yet.' };
    if (e instanceof ApiError && e.status === 501) return { none: 'Drift detection is not available on this server.' };
    throw e;
  }
}

export function StatusPage({ onError }: { onError: (e: unknown) => void }) {
  const [status, setStatus] = useState<StoreStatus | undefined>();
  const [drift, setDrift] = useState<Drift | undefined>();
  const [updatedAt, setUpdatedAt] = useState<Date | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [live, setLive] = useState<'connecting' | 'connected' | 'reconnecting' | 'unavailable (polling only)'>(
    'connecting',
  );
  const [lastChange, setLastChange] = useState<string | undefined>();
  const inFlight = useRef(false);

  const refresh = async () => {
    if (inFlight.current) return;
    inFlight.current = true;
    try {
      const [s, d] = await Promise.all([getStatus(), driftOf()]);
      setStatus(s);
      setDrift(d);
      setUpdatedAt(new Date());
      setError(undefined);
    } catch (e) {
      onError(e);
      setError(messageOf(e));
    } finally {
      inFlight.current = false;
    }
  };

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), INTERVAL_MS);
    const source = new EventSource('/api/v1/watch?snapshot=false');
    source.addEventListener('ready', () => setLive('connected'));
    source.addEventListener('change', (e) => {
      try {
        const c = JSON.parse((e as MessageEvent<string>).data) as { ref: string; version: number; deleted?: boolean };
        setLastChange(`${c.ref} v${c.version}${c.deleted ? ' (deleted)' : ''}`);
      } catch {
        // A malformed event still means something changed.
      }
      void refresh();
    });
    // EventSource retries a dropped stream by itself; a refused one (e.g. 501 without a store) is closed.
    source.onerror = () =>
      setLive(source.readyState === EventSource.CLOSED ? 'unavailable (polling only)' : 'reconnecting');
    return () => {
      clearInterval(timer);
      source.close();
    };
  }, []);

  return (
    <article aria-labelledby="status-title">
      <h1 id="status-title" tabIndex={-1}>
        Status
      </h1>
      <p class="help">
        <span id="status-updated">
          {updatedAt === undefined ? 'Loading…' : `Updated at ${updatedAt.toLocaleTimeString()}`}
        </span>{' '}
        · refreshed every {INTERVAL_MS / 1000} s and at every change · live updates:{' '}
        <span id="status-live">{live}</span>
        {lastChange !== undefined && (
          <>
            {' '}
            · last change: <span id="status-last-change">{lastChange}</span>
          </>
        )}
      </p>
      {error !== undefined && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {status !== undefined && <Tiers status={status} />}
      {status !== undefined && (status.gitops !== undefined || status.gitopsError !== undefined) && (
        <GitopsSection gitops={status.gitops ?? null} error={status.gitopsError} />
      )}
      <section aria-labelledby="instances-title">
        <h2 id="instances-title">Instances lagging or rejecting versions</h2>
        {drift === undefined ? (
          <p>Loading…</p>
        ) : 'none' in drift ? (
          <p>{drift.none}</p>
        ) : (
          <Instances report={drift.report} />
        )}
      </section>
      <section aria-labelledby="drift-title">
        <h2 id="drift-title">Drift</h2>
        {drift === undefined ? (
          <p>Loading…</p>
        ) : 'none' in drift ? (
          <p id="drift-none">{drift.none}</p>
        ) : (
          <DriftFindings report={drift.report} />
        )}
      </section>
    </article>
  );
}

function Tiers({ status }: { status: StoreStatus }) {
  return (
    <section aria-labelledby="tiers-title">
      <h2 id="tiers-title">Store tiers</h2>
      <dl class="facts">
        <dt>Kind</dt>
        <dd>{status.kind === 'failover' ? 'failover chain' : 'single store'}</dd>
        <dt>Serving</dt>
        <dd id="status-serving">{status.serving ?? <strong>✗ no tier is serving</strong>}</dd>
        {status.kind === 'failover' && (
          <>
            <dt>Watching</dt>
            <dd>{status.watching ?? 'none'}</dd>
            <dt>Divergent refs</dt>
            <dd id="status-divergent">{status.divergent ?? 0}</dd>
            <dt>Unsynced refs</dt>
            <dd id="status-unsynced">
              {(status.unsynced ?? []).length === 0 ? 'none' : (status.unsynced ?? []).join(', ')}
            </dd>
            <dt>Epoch</dt>
            <dd>{status.epoch ?? ''}</dd>
            <dt>Mirror trusted</dt>
            <dd>{status.mirrorTrusted === undefined ? '' : status.mirrorTrusted ? 'yes' : 'no'}</dd>
          </>
        )}
        {(status.leader !== undefined || status.leaderError !== undefined) && (
          <>
            <dt>Leader</dt>
            <dd id="status-leader">
              {status.leaderError !== undefined ? (
                <strong>✗ unknown ({status.leaderError})</strong>
              ) : status.leader ? (
                `${status.leader.holder}${status.leader.fencingToken === undefined ? '' : ` (term ${status.leader.fencingToken})`}`
              ) : (
                <strong>✗ no agent leads</strong>
              )}
            </dd>
          </>
        )}
      </dl>
      <table id="tiers">
        <caption class="visually-hidden">Each tier of the store and its circuit breaker</caption>
        <thead>
          <tr>
            <th scope="col">Tier</th>
            <th scope="col">Role</th>
            <th scope="col">Durable</th>
            <th scope="col">Breaker</th>
            <th scope="col">Health</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {status.tiers.map((t) => (
            <tr key={t.name}>
              <th scope="row">
                {t.name}
                {t.name === status.serving ? ' (serving)' : ''}
              </th>
              <td>{t.role}</td>
              <td>{t.durable ? 'yes' : 'no'}</td>
              <td>{t.state}</td>
              <td>
                {t.failing ? (
                  <strong>
                    ✗ failing{t.error ? ` (${t.error})` : ''}
                    {t.consecutiveFailures ? `, ${t.consecutiveFailures} failures in a row` : ''}
                  </strong>
                ) : (
                  '✓ healthy'
                )}
              </td>
              <td>{t.since === undefined ? '' : new Date(t.since).toLocaleString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function DriftFindings({ report }: { report: DriftReport }) {
  return (
    <>
      <p>
        Last run {new Date(report.startedAt).toLocaleString()}: {report.examined} refs examined,{' '}
        {report.findings.length} finding{report.findings.length === 1 ? '' : 's'}, {report.remediated} remediated.
      </p>
      {report.findings.length > 0 && (
        <table>
          <caption class="visually-hidden">Drift findings</caption>
          <thead>
            <tr>
              <th scope="col">Kind</th>
              <th scope="col">Ref</th>
              <th scope="col">Finding</th>
              <th scope="col">Remediated</th>
            </tr>
          </thead>
          <tbody>
            {report.findings.map((f, i) => (
              <tr key={i}>
                <td>{f.kind}</td>
                <td>{f.ref ?? ''}</td>
                <td>{f.message}</td>
                <td>{f.remediated ? 'yes' : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

const INSTANCE_KINDS = new Set(['lagging-instance', 'rejected-instance']);

/** The instances the last drift run found behind the head or refusing a version (from their acknowledgements). */
function Instances({ report }: { report: DriftReport }) {
  const rows = report.findings.filter((f) => INSTANCE_KINDS.has(f.kind));
  if (rows.length === 0) {
    return <p id="instances-none">✓ every acknowledging instance applied the head (as of the last drift run).</p>;
  }
  return (
    <table id="instances">
      <caption class="visually-hidden">Instances lagging behind the head or rejecting a version</caption>
      <thead>
        <tr>
          <th scope="col">Instance</th>
          <th scope="col">Environment</th>
          <th scope="col">Ref</th>
          <th scope="col">State</th>
          <th scope="col">Applied</th>
          <th scope="col">Head</th>
          <th scope="col">Reason</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((f, i) => (
          <tr key={i}>
            <th scope="row">{f.instance ?? ''}</th>
            <td>{f.environment ?? ''}</td>
            <td>{f.ref ?? ''}</td>
            <td>{f.kind === 'rejected-instance' ? '✗ rejected' : '⚠ lagging'}</td>
            <td>{f.ackVersion === undefined ? '' : `v${f.ackVersion}`}</td>
            <td>{f.headVersion === undefined ? '' : `v${f.headVersion}`}</td>
            <td>{f.reason ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
