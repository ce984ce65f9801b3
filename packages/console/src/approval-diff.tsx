/**
 * A side-by-side diff of two JSON documents by leaf path: one row per path with the old value, the
 * new value and what happened to it. A changed row is marked by a word ("changed", "added",
 * "removed") and a sign (~, +, −) as well as its colour; unchanged rows can be hidden.
 */
import { useState } from 'preact/hooks';

export type Change = 'added' | 'removed' | 'changed' | 'same';

export interface DiffRow {
  path: string;
  before?: string;
  after?: string;
  change: Change;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Leaf paths (`config.pool`, `overrides.production.host`, `list[0]`) and their JSON text. */
export function flatten(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else if (Array.isArray(value) && value.length > 0) {
    value.forEach((v, i) => {
      flatten(v, `${prefix}[${i}]`, out);
    });
  } else if (prefix !== '') {
    out.set(prefix, JSON.stringify(value));
  }
  return out;
}

export function diffRows(before: unknown, after: unknown): DiffRow[] {
  const a = flatten(before);
  const b = flatten(after);
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths.map((path) => {
    const x = a.get(path);
    const y = b.get(path);
    const change: Change = x === undefined ? 'added' : y === undefined ? 'removed' : x === y ? 'same' : 'changed';
    return { path, before: x, after: y, change };
  });
}

const SIGN: Record<Change, string> = { added: '+', removed: '−', changed: '~', same: '' };

export function SideBySideDiff({
  before,
  after,
  beforeLabel,
  afterLabel,
  caption,
}: {
  before: unknown;
  after: unknown;
  beforeLabel: string;
  afterLabel: string;
  caption: string;
}) {
  const [all, setAll] = useState(false);
  const rows = diffRows(before, after);
  const changed = rows.filter((r) => r.change !== 'same');
  const shown = all ? rows : changed;
  return (
    <div class="diff">
      <p class="diff-summary">
        {changed.length === 0 ? 'No path changes.' : `${changed.length} changed path${changed.length === 1 ? '' : 's'}`}
        {rows.length > changed.length && ` (${rows.length - changed.length} unchanged)`}{' '}
        {rows.length > changed.length && (
          <button type="button" class="secondary" aria-pressed={all} onClick={() => setAll(!all)}>
            {all ? 'Hide unchanged paths' : 'Show unchanged paths'}
          </button>
        )}
      </p>
      {shown.length > 0 && (
        <table class="diff-table">
          <caption class="visually-hidden">{caption}</caption>
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col">{beforeLabel}</th>
              <th scope="col">{afterLabel}</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.path} class={`diff-${r.change}`}>
                <th scope="row">
                  <code>{r.path}</code>
                </th>
                <td class="before">
                  <code>{r.before ?? '(absent)'}</code>
                </td>
                <td class="after">
                  <code>{r.after ?? '(absent)'}</code>
                </td>
                <td>
                  {r.change === 'same' ? (
                    'unchanged'
                  ) : (
                    <strong>
                      <span aria-hidden="true">{SIGN[r.change]} </span>
                      {r.change}
                    </strong>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
