/** One config: its raw document (the head, or a version picked in the history) and its versions. */
import { useEffect, useState } from 'preact/hooks';
import { type ConfigVersion, getConfig, listVersions, type VersionInfo } from './api';
import { linkTo } from './router';

export function ConfigPage({ refKey, onError }: { refKey: string; onError: (e: unknown) => void }) {
  const [versions, setVersions] = useState<VersionInfo[] | undefined>();
  const [selected, setSelected] = useState<number | undefined>();
  const [doc, setDoc] = useState<ConfigVersion | undefined>();
  const [error, setError] = useState<string | undefined>();

  const fail = (e: unknown) => {
    onError(e);
    setError(e instanceof Error ? e.message : String(e));
  };

  useEffect(() => {
    listVersions(refKey).then(setVersions).catch(fail);
  }, [refKey]);

  useEffect(() => {
    setDoc(undefined);
    getConfig(refKey, selected).then(setDoc).catch(fail);
  }, [refKey, selected]);

  const raw =
    doc === undefined
      ? ''
      : JSON.stringify(
          { config: doc.config, overrides: doc.overrides, rollout: doc.rollout, metadata: doc.metadata },
          null,
          2,
        );

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
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
        <pre id="raw" tabIndex={0} aria-busy={doc === undefined}>
          {raw}
        </pre>
      </section>
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
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </article>
  );
}
