/**
 * The audit trail (`/ui/audit`): events oldest first, filtered by ref, actor and a time range,
 * fetched a page at a time (`afterSeq`, `limit`); and the trail's verification (`POST
 * /api/v1/audit/verify`), naming the first broken row (its seq and problem code) when it fails.
 */
import { useEffect, useState } from 'preact/hooks';
import {
  type AuditEvent,
  type AuditFilter,
  type AuditVerifyReport,
  listAudit,
  messageOf,
  verifyAudit,
} from './pages-api';

const PAGE = 50;

/** A `datetime-local` value (local time) as RFC 3339, or undefined. */
const isoOf = (local: string) => (local === '' ? undefined : new Date(local).toISOString());

export function AuditPage({ onError }: { onError: (e: unknown) => void }) {
  const [form, setForm] = useState({ ref: '', actor: '', since: '', until: '' });
  const [filter, setFilter] = useState<AuditFilter>({});
  const [events, setEvents] = useState<AuditEvent[] | undefined>();
  const [more, setMore] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [report, setReport] = useState<AuditVerifyReport | undefined>();
  const [verifying, setVerifying] = useState(false);

  const fail = (e: unknown) => {
    onError(e);
    setError(messageOf(e));
  };

  const load = async (f: AuditFilter, after: AuditEvent[] = []) => {
    setError(undefined);
    try {
      const page = await listAudit(f, after.at(-1)?.seq, PAGE);
      setEvents([...after, ...page]);
      setMore(page.length === PAGE);
    } catch (e) {
      fail(e);
    }
  };

  const verify = async () => {
    setVerifying(true);
    try {
      setReport(await verifyAudit());
    } catch (e) {
      fail(e);
    } finally {
      setVerifying(false);
    }
  };

  useEffect(() => {
    void load({});
    void verify();
  }, []);

  const broken = new Map((report?.problems ?? []).filter((p) => p.seq !== undefined).map((p) => [p.seq, p]));
  const first = report?.problems[0];
  const field = (name: keyof typeof form) => ({
    id: `audit-${name}`,
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }),
  });

  return (
    <article aria-labelledby="audit-title">
      <h1 id="audit-title" tabIndex={-1}>
        Audit trail
      </h1>

      <section aria-labelledby="verify-title" class="verify">
        <h2 id="verify-title">Verification</h2>
        <div id="verify-status" aria-live="polite">
          {report === undefined ? (
            <p>{verifying ? 'Verifying the trail…' : 'Not verified yet.'}</p>
          ) : report.ok ? (
            <p class="ok">
              <strong>✓ Verified:</strong> {report.checked} events, the hash chain holds
              {report.signatures === 'checked' ? ' and every signature verifies' : ' (signatures not checked)'}.
            </p>
          ) : (
            <div class="broken">
              <p>
                <strong>✗ Broken:</strong> the first broken row is seq{' '}
                <strong id="first-broken">{report.brokenAt ?? first?.seq ?? '?'}</strong>
                {first !== undefined && (
                  <>
                    {' '}
                    (<code>{first.code}</code>: {first.message})
                  </>
                )}
                . {report.checked} events checked.
              </p>
              {report.problems.length > 1 && (
                <ul>
                  {report.problems.slice(0, 10).map((p) => (
                    <li key={`${p.code}-${p.seq}`}>
                      seq {p.seq ?? '?'}: <code>{p.code}</code> {p.message}
                    </li>
                  ))}
                </ul>
              )}
            </div>
          )}
        </div>
        <button type="button" disabled={verifying} onClick={() => void verify()}>
          Verify again
        </button>
      </section>

      <section aria-labelledby="events-title">
        <h2 id="events-title">Events</h2>
        <form
          class="filters"
          aria-label="Filter the audit trail"
          onSubmit={(e) => {
            e.preventDefault();
            const f: AuditFilter = {
              ref: form.ref.trim() || undefined,
              actor: form.actor.trim() || undefined,
              since: isoOf(form.since),
              until: isoOf(form.until),
            };
            setFilter(f);
            setEvents(undefined);
            void load(f);
          }}
        >
          <div>
            <label for="audit-ref">Ref</label>
            <input {...field('ref')} placeholder="global/db" />
          </div>
          <div>
            <label for="audit-actor">Actor</label>
            <input {...field('actor')} />
          </div>
          <div>
            <label for="audit-since">From (local time)</label>
            <input type="datetime-local" step={1} {...field('since')} />
          </div>
          <div>
            <label for="audit-until">Until (local time)</label>
            <input type="datetime-local" step={1} {...field('until')} />
          </div>
          <div class="submit">
            <button type="submit">Filter</button>
          </div>
        </form>
        {error !== undefined && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <p id="audit-count" aria-live="polite">
          {events === undefined
            ? 'Loading…'
            : `${events.length} event${events.length === 1 ? '' : 's'}${more ? ' (more below)' : ''}`}
        </p>
        {events !== undefined && events.length > 0 && (
          <table id="audit-events">
            <caption class="visually-hidden">Audit events, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Seq</th>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Ref</th>
                <th scope="col">Message</th>
                <th scope="col">Integrity</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => {
                const problem = broken.get(e.seq);
                return (
                  <tr key={e.seq} class={problem ? 'broken-row' : undefined}>
                    <td>{e.seq}</td>
                    <td>{new Date(e.at).toLocaleString()}</td>
                    <td>{e.actor}</td>
                    <td>
                      <code>{e.action}</code>
                    </td>
                    <td>
                      {e.ref ?? ''}
                      {e.version !== undefined ? ` v${e.version}` : ''}
                    </td>
                    <td>{e.message}</td>
                    <td>{problem ? <strong>✗ {problem.code}</strong> : report?.ok ? '✓' : ''}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {more && events !== undefined && (
          <button type="button" onClick={() => void load(filter, events)}>
            Load more
          </button>
        )}
      </section>
    </article>
  );
}
