/**
 * The value an app resolves for a config id in one environment (`GET /resolved/<app>/<env>/<id>?explain=true`),
 * with which layer set each leaf. The environment is picked among `GET /environments`; the app is
 * the ref's own `app:<name>` scope, or, for a `global/...` ref, one of the app scopes the configs
 * list shows (the global document resolves the same for every app without a document of its own).
 */
import { useEffect, useState } from 'preact/hooks';
import {
  type Environment,
  getResolved,
  type LayerInfo,
  listConfigs,
  listEnvironments,
  type Resolved,
  splitRef,
} from './api';

function describeLayer(layer: LayerInfo): string {
  const parts: string[] = [layer.kind];
  if (layer.scope !== undefined && layer.kind !== layer.scope) parts.push(layer.scope);
  if (layer.environment !== undefined) parts.push(`environment ${layer.environment}`);
  if (layer.rule !== undefined) parts.push(`rule ${layer.rule}`);
  if (layer.variant !== undefined) parts.push(`variant ${layer.variant}`);
  if (layer.source !== undefined) parts.push(layer.source);
  if (layer.version !== undefined) parts.push(`v${layer.version}`);
  return parts.join(' · ');
}

export function ResolvedView({
  refKey,
  reload,
  onError,
}: {
  refKey: string;
  /** Changes after a write: the value is read again (the selection is kept). */
  reload: number;
  onError: (e: unknown) => void;
}) {
  const { scope, id } = splitRef(refKey);
  const ownApp = scope.startsWith('app:') ? scope.slice(4) : undefined;
  const [environments, setEnvironments] = useState<Environment[] | undefined>();
  const [apps, setApps] = useState<string[] | undefined>(ownApp === undefined ? undefined : [ownApp]);
  const [environment, setEnvironment] = useState<string | undefined>();
  const [app, setApp] = useState<string | undefined>(ownApp);
  const [resolved, setResolved] = useState<Resolved | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);

  useEffect(() => {
    listEnvironments()
      .then((items) => {
        setEnvironments(items);
        setEnvironment((current) => current ?? items[0]?.name);
      })
      .catch((e: unknown) => {
        onError(e);
        setError(e instanceof Error ? e.message : String(e));
      });
    if (ownApp === undefined) {
      listConfigs()
        .then((heads) => {
          const names = [...new Set(heads.map((h) => splitRef(h.ref).scope).filter((s) => s.startsWith('app:')))]
            .map((s) => s.slice(4))
            .sort();
          setApps(names);
          setApp((current) => current ?? names[0]);
        })
        .catch((e: unknown) => {
          onError(e);
          setError(e instanceof Error ? e.message : String(e));
        });
    }
  }, [refKey]);

  useEffect(() => {
    if (app === undefined || environment === undefined) return;
    let live = true;
    setLoading(true);
    setError(undefined);
    getResolved(app, environment, id)
      .then((r) => live && setResolved(r))
      .catch((e: unknown) => {
        onError(e);
        if (!live) return;
        setResolved(undefined);
        setError(e instanceof Error ? e.message : String(e));
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [app, environment, id, reload]);

  const explain = resolved?.explain ?? {};
  const pointers = Object.keys(explain).sort();
  return (
    <section aria-labelledby="resolved-title">
      <h2 id="resolved-title">Resolved value</h2>
      <div class="filters">
        <div>
          <label for="resolved-env">Environment</label>
          <select
            id="resolved-env"
            value={environment ?? ''}
            onChange={(e) => setEnvironment((e.target as HTMLSelectElement).value)}
          >
            {(environments ?? []).map((env) => (
              <option key={env.name} value={env.name}>
                {env.name}
                {env.production ? ' (production)' : ''}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="resolved-app">App</label>
          {ownApp !== undefined ? (
            <select id="resolved-app" value={ownApp} disabled aria-describedby="resolved-app-help">
              <option value={ownApp}>{ownApp}</option>
            </select>
          ) : apps !== undefined && apps.length === 0 ? (
            <input
              id="resolved-app"
              value={app ?? ''}
              onChange={(e) => setApp((e.target as HTMLInputElement).value.trim() || undefined)}
              aria-describedby="resolved-app-help"
            />
          ) : (
            <select
              id="resolved-app"
              value={app ?? ''}
              onChange={(e) => setApp((e.target as HTMLSelectElement).value)}
              aria-describedby="resolved-app-help"
            >
              {(apps ?? []).map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          )}
          <p id="resolved-app-help" class="help">
            {ownApp !== undefined
              ? 'The app of this config’s scope.'
              : apps !== undefined && apps.length === 0
                ? 'No app scope exists yet: type the name of the app to resolve for (Enter).'
                : 'A global config resolves for every app.'}
          </p>
        </div>
      </div>
      {error !== undefined && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <div aria-live="polite" aria-busy={loading}>
        {resolved !== undefined && (
          <>
            <p id="resolved-summary">
              <strong>{resolved.id}</strong> for app <strong>{resolved.app}</strong> in{' '}
              <strong>{resolved.environment}</strong>
              {typeof resolved.details.reason === 'string' ? ` (${resolved.details.reason})` : ''}
            </p>
            {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
            <pre id="resolved-value" tabIndex={0}>
              {JSON.stringify(resolved.value, null, 2)}
            </pre>
            <h3 id="explain-title">Explain: which layer set each leaf</h3>
            <ul id="explain" class="explain" aria-labelledby="explain-title">
              {pointers.map((p) => {
                const entry = explain[p] as { value: unknown; layer: LayerInfo };
                return (
                  <li key={p} data-pointer={p}>
                    <code class="ptr">{p === '' ? '/' : p}</code> = <code>{JSON.stringify(entry.value)}</code>{' '}
                    <span class="layer">set by {describeLayer(entry.layer)}</span>
                  </li>
                );
              })}
            </ul>
          </>
        )}
      </div>
    </section>
  );
}
