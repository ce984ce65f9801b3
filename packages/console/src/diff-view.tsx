/**
 * Two JSON documents side by side, each line carrying its JSON pointer, with the paths an RFC 6902
 * patch changes marked by a sign and a word as well as a colour: `−` removed (left), `+` added
 * (right), `~` changed (both). Used by the history's diff (the server's patch, `GET /diffs`) and by
 * the lost compare-and-set view (a patch computed here by {@link comparePaths}).
 */
import type { PatchOp } from './api';

export interface Line {
  text: string;
  pointer: string;
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `JSON.stringify(value, null, 2)`, one entry per line, each with the pointer of its value. */
export function jsonLines(value: unknown): Line[] {
  const out: Line[] = [];
  const emit = (v: unknown, pointer: string, indent: string, prefix: string, comma: string): void => {
    const entries: Array<[string, unknown]> = Array.isArray(v)
      ? v.map((x, i) => [String(i), x])
      : isObject(v)
        ? Object.entries(v).filter(([, x]) => x !== undefined)
        : [];
    if ((!Array.isArray(v) && !isObject(v)) || entries.length === 0) {
      const text = v === undefined ? 'null' : Array.isArray(v) ? '[]' : isObject(v) ? '{}' : JSON.stringify(v);
      out.push({ text: `${indent}${prefix}${text}${comma}`, pointer });
      return;
    }
    const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
    out.push({ text: `${indent}${prefix}${open}`, pointer });
    entries.forEach(([key, child], i) => {
      const childPrefix = Array.isArray(v) ? '' : `${JSON.stringify(key)}: `;
      emit(child, `${pointer}/${escapePointer(key)}`, `${indent}  `, childPrefix, i < entries.length - 1 ? ',' : '');
    });
    out.push({ text: `${indent}${close}${comma}`, pointer });
  };
  emit(value, '', '', '', '');
  return out;
}

/** The add / remove / replace operations that turn `a` into `b` (objects member by member). */
export function comparePaths(a: unknown, b: unknown, pointer = ''): PatchOp[] {
  if (isObject(a) && isObject(b)) {
    const ops: PatchOp[] = [];
    for (const key of Object.keys(a)) {
      const p = `${pointer}/${escapePointer(key)}`;
      if (!(key in b) || b[key] === undefined) {
        if (a[key] !== undefined) ops.push({ op: 'remove', path: p });
      } else ops.push(...comparePaths(a[key], b[key], p));
    }
    for (const key of Object.keys(b)) {
      if ((!(key in a) || a[key] === undefined) && b[key] !== undefined) {
        ops.push({ op: 'add', path: `${pointer}/${escapePointer(key)}`, value: b[key] });
      }
    }
    return ops;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ op: 'replace', path: pointer, value: b }];
}

type Mark = 'removed' | 'added' | 'changed';
const SIGN: Record<Mark, string> = { removed: '−', added: '+', changed: '~' };

const under = (pointer: string, path: string) => pointer === path || pointer.startsWith(`${path}/`);

function markOf(pointer: string, patch: readonly PatchOp[], side: 'left' | 'right'): Mark | undefined {
  for (const op of patch) {
    if (op.op === 'replace' && under(pointer, op.path)) return 'changed';
    if (
      side === 'left' &&
      (op.op === 'remove' || op.op === 'move') &&
      under(pointer, op.op === 'move' ? (op.from ?? '') : op.path)
    )
      return 'removed';
    if (side === 'right' && (op.op === 'add' || op.op === 'copy' || op.op === 'move') && under(pointer, op.path))
      return 'added';
  }
  return undefined;
}

function Column({
  id,
  title,
  value,
  patch,
  side,
}: {
  id: string;
  title: string;
  value: unknown;
  patch: readonly PatchOp[];
  side: 'left' | 'right';
}) {
  const lines = jsonLines(value);
  return (
    <section class="diff-col" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>{title}</h3>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
      <pre id={id} class="diff-lines" tabIndex={0}>
        {lines.map((line, i) => {
          const mark = markOf(line.pointer, patch, side);
          return (
            <span key={i} class={`diff-line${mark ? ` ${mark}` : ''}`} data-pointer={line.pointer}>
              <span class="sign" aria-hidden="true">
                {mark ? SIGN[mark] : ' '}
              </span>
              {mark && <span class="visually-hidden">{mark}: </span>}
              {`${line.text}\n`}
            </span>
          );
        })}
      </pre>
    </section>
  );
}

/** The two documents, side by side, and the list of changed paths. */
export function SideBySide({
  id,
  left,
  right,
  patch,
}: {
  id: string;
  left: { title: string; value: unknown };
  right: { title: string; value: unknown };
  patch: readonly PatchOp[];
}) {
  const shown = patch.filter((op) => op.op !== 'test');
  return (
    <div class="diff" id={id}>
      <h3 class="visually-hidden">Changed paths</h3>
      {shown.length === 0 ? (
        <p class="changes-none">No differences.</p>
      ) : (
        <ul class="changes" aria-label="Changed paths">
          {shown.map((op) => (
            <li key={`${op.op}${op.path}`}>
              <span class={`tag ${op.op}`}>
                {op.op === 'add'
                  ? '+ added'
                  : op.op === 'remove'
                    ? '− removed'
                    : op.op === 'replace'
                      ? '~ changed'
                      : op.op}
              </span>{' '}
              <code>{op.path === '' ? '/' : op.path}</code>
            </li>
          ))}
        </ul>
      )}
      <p class="help legend">
        Marks: <span aria-hidden="true">−</span> removed, <span aria-hidden="true">+</span> added,{' '}
        <span aria-hidden="true">~</span> changed.
      </p>
      <div class="diff-cols">
        <Column id={`${id}-left`} title={left.title} value={left.value} patch={shown} side="left" />
        <Column id={`${id}-right`} title={right.title} value={right.value} patch={shown} side="right" />
      </div>
    </div>
  );
}
