/**
 * Read-only lists: the environments (`/ui/environments`, their parents and approval policies) and
 * the schemas (`/ui/schemas`, each id's versions; one version's JSON at a time).
 */
import { useEffect, useState } from 'preact/hooks';
import { type Environment, getSchema, listEnvironments, listSchemas, messageOf, type SchemaItem } from './pages-api';

function useLoad<T>(load: () => Promise<T>, onError: (e: unknown) => void): [T | undefined, string | undefined] {
  const [value, setValue] = useState<T | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    load()
      .then(setValue)
      .catch((e: unknown) => {
        onError(e);
        setError(messageOf(e));
      });
  }, []);
  return [value, error];
}

const Alert = ({ error }: { error: string | undefined }) =>
  error === undefined ? null : (
    <p role="alert" class="error">
      {error}
    </p>
  );

export function EnvironmentsPage({ onError }: { onError: (e: unknown) => void }) {
  const [items, error] = useLoad(listEnvironments, onError);
  return (
    <article aria-labelledby="environments-title">
      <h1 id="environments-title" tabIndex={-1}>
        Environments
      </h1>
      <Alert error={error} />
      {items === undefined && error === undefined && <p aria-live="polite">Loading…</p>}
      {items !== undefined && (
        <table id="environments">
          <caption class="visually-hidden">Environments and their approval policies</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Inherits from</th>
              <th scope="col">Production</th>
              <th scope="col">Approvals needed</th>
              <th scope="col">Who may approve</th>
              <th scope="col">Emergency changes</th>
              <th scope="col">Requests expire after</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e: Environment) => {
              const p = e.approvalPolicy;
              return (
                <tr key={e.name}>
                  <th scope="row">{e.name}</th>
                  <td>{e.parent ?? '—'}</td>
                  <td>{e.production ? 'yes' : 'no'}</td>
                  <td>{p === undefined || p.requiredApprovals === 0 ? 'none (not guarded)' : p.requiredApprovals}</td>
                  <td>{p?.approvers?.length ? p.approvers.join(', ') : p ? 'anyone who may approve' : '—'}</td>
                  <td>{p === undefined ? '—' : p.allowEmergency === false ? 'not allowed' : 'allowed'}</td>
                  <td>{p === undefined ? '—' : `${p.expiresAfterHours ?? 72} h`}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </article>
  );
}

export function SchemasPage({ onError }: { onError: (e: unknown) => void }) {
  const [items, error] = useLoad(listSchemas, onError);
  const [shown, setShown] = useState<{ id: string; version: number } | undefined>();
  const [doc, setDoc] = useState<unknown>();
  const [docError, setDocError] = useState<string | undefined>();

  useEffect(() => {
    if (shown === undefined) return;
    setDoc(undefined);
    setDocError(undefined);
    getSchema(shown.id, shown.version)
      .then((s) => setDoc(s.schema))
      .catch((e: unknown) => {
        onError(e);
        setDocError(messageOf(e));
      });
  }, [shown?.id, shown?.version]);

  return (
    <article aria-labelledby="schemas-title">
      <h1 id="schemas-title" tabIndex={-1}>
        Schemas
      </h1>
      <Alert error={error} />
      {items === undefined && error === undefined && <p aria-live="polite">Loading…</p>}
      {items !== undefined && items.length === 0 && <p>No schema is registered.</p>}
      {items !== undefined && items.length > 0 && (
        <table id="schemas">
          <caption class="visually-hidden">Registered schemas and their versions</caption>
          <thead>
            <tr>
              <th scope="col">Config id</th>
              <th scope="col">Latest version</th>
              <th scope="col">Versions</th>
              <th scope="col">Show</th>
            </tr>
          </thead>
          <tbody>
            {items.map((s: SchemaItem) => (
              <tr key={s.id}>
                <th scope="row">{s.id}</th>
                <td>v{s.version}</td>
                <td>{s.versions}</td>
                <td>
                  <label class="visually-hidden" for={`schema-version-${s.id}`}>
                    Version of {s.id} to show
                  </label>
                  <select
                    id={`schema-version-${s.id}`}
                    value={shown?.id === s.id ? shown.version : ''}
                    onChange={(e) => setShown({ id: s.id, version: Number((e.target as HTMLSelectElement).value) })}
                  >
                    <option value="" disabled>
                      Pick a version
                    </option>
                    {Array.from({ length: s.version }, (_, i) => s.version - i).map((v) => (
                      <option key={v} value={v}>
                        v{v}
                      </option>
                    ))}
                  </select>{' '}
                  <button type="button" onClick={() => setShown({ id: s.id, version: s.version })}>
                    Show latest of {s.id}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown !== undefined && (
        <section aria-labelledby="schema-title">
          <h2 id="schema-title">
            {shown.id} v{shown.version}
          </h2>
          <Alert error={docError} />
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
          <pre id="schema-json" tabIndex={0} aria-busy={doc === undefined}>
            {doc === undefined ? '' : JSON.stringify(doc, null, 2)}
          </pre>
        </section>
      )}
    </article>
  );
}
