/** The configs page: every ref the principal may list, filtered by scope and search, virtualised. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { type Head, listConfigs, splitRef } from './api';
import { navigate } from './router';
import { VirtualList } from './virtual-list';

const ROW_HEIGHT = 36;
const LIST_HEIGHT = 504;

export function ConfigsPage({ onError }: { onError: (e: unknown) => void }) {
  const [heads, setHeads] = useState<Head[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [query, setQuery] = useState('');
  const [scope, setScope] = useState('');

  useEffect(() => {
    listConfigs()
      .then((items) => setHeads(items.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0))))
      .catch((e: unknown) => {
        onError(e);
        setError(e instanceof Error ? e.message : String(e));
      });
  }, [onError]);

  const scopes = useMemo(() => [...new Set((heads ?? []).map((h) => splitRef(h.ref).scope))].sort(), [heads]);
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return (heads ?? []).filter(
      (h) => (scope === '' || splitRef(h.ref).scope === scope) && (q === '' || h.ref.toLowerCase().includes(q)),
    );
  }, [heads, query, scope]);

  const open = (h: Head) => navigate(`/configs/${h.ref.split('/').map(encodeURIComponent).join('/')}`);

  return (
    <section aria-labelledby="configs-title">
      <h1 id="configs-title" tabIndex={-1}>
        Configs
      </h1>
      <div class="filters">
        <div>
          <label for="scope">Scope</label>
          <select id="scope" value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value)}>
            <option value="">All scopes</option>
            {scopes.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="search">Search refs</label>
          <input
            id="search"
            type="search"
            value={query}
            placeholder="e.g. db/pool"
            onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          />
        </div>
      </div>
      {error !== undefined && (
        <p role="alert" class="error">
          Could not list the configs: {error}
        </p>
      )}
      <p id="configs-count" aria-live="polite">
        {heads === undefined ? 'Loading…' : `${shown.length} of ${heads.length} configs`}
      </p>
      {heads !== undefined && (
        <>
          <p class="help" id="configs-help">
            Arrow keys move through the list, Enter opens a config.
          </p>
          <VirtualList
            id="configs"
            label="Configs"
            items={shown}
            rowHeight={ROW_HEIGHT}
            height={LIST_HEIGHT}
            onOpen={open}
            render={(h) => (
              <>
                <span class="ref">{h.ref}</span>
                <span class="ver">v{h.version}</span>
              </>
            )}
          />
        </>
      )}
    </section>
  );
}
