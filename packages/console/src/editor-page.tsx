/**
 * Editing a config: its document (`config`, `overrides`, `rollout`, `metadata`) in a JSON editor,
 * checked against the id's registered schema as it is typed (schema-check.ts, on every resolved
 * view), saved with `PUT /configs/...` and `If-Match` of the version read. A guarded environment
 * (`409 APPROVAL_REQUIRED`) offers a change request with the same content and base version; a lost
 * compare-and-set (`412`) shows both versions side by side and writes nothing until the user
 * rebases (their edits applied onto the new head) or takes the head.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  type ConfigVersion,
  type DocumentContent,
  type Environment,
  findConfig,
  getConfig,
  getSchema,
  listEnvironments,
  type PatchOp,
  ProblemError,
  proposeChange,
  putConfig,
  splitRef,
} from './api';
import { comparePaths, SideBySide } from './diff-view';
import { JsonEditor } from './json-editor';
import { RESERVED_METADATA } from './reserved-metadata';
import { checkViews } from './schema-check';

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The editable content of a version (its user metadata only). */
export function contentOf(doc: ConfigVersion): DocumentContent {
  const out: DocumentContent = { config: doc.config ?? {}, overrides: doc.overrides ?? {} };
  if (doc.rollout !== undefined && doc.rollout !== null) out.rollout = doc.rollout;
  const metadata = Object.fromEntries(
    Object.entries(isObject(doc.metadata) ? doc.metadata : {}).filter(([k]) => !RESERVED_METADATA.has(k)),
  );
  if (Object.keys(metadata).length > 0) out.metadata = metadata;
  return out;
}

const textOf = (content: DocumentContent) => `${JSON.stringify(content, null, 2)}\n`;

/** The text as a document, or why it is not one. */
function parse(text: string): { content: DocumentContent } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!isObject(value)) return { error: 'the document must be a JSON object' };
  if (!isObject(value.config)) return { error: '/config must be a JSON object' };
  const unknown = Object.keys(value).filter((k) => !['config', 'overrides', 'rollout', 'metadata'].includes(k));
  if (unknown.length > 0) return { error: `unknown member(s) ${unknown.map((k) => `/${k}`).join(', ')}` };
  if (value.overrides !== undefined && !isObject(value.overrides)) return { error: '/overrides must be an object' };
  return { content: value as unknown as DocumentContent };
}

/** Applies add / replace / remove operations (object paths) to a copy of `doc`. */
function applyOps(doc: unknown, ops: readonly PatchOp[]): unknown {
  const root = { value: structuredClone(doc) as unknown };
  for (const op of ops) {
    const keys =
      op.path === ''
        ? []
        : op.path
            .slice(1)
            .split('/')
            .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    let parent: Obj = root as unknown as Obj;
    let key = 'value';
    for (const k of keys) {
      if (!isObject(parent[key])) parent[key] = {};
      parent = parent[key] as Obj;
      key = k;
    }
    if (op.op === 'remove') delete parent[key];
    else parent[key] = structuredClone(op.value);
  }
  return root.value;
}

type Outcome =
  | { kind: 'approval'; environments: string[] }
  | { kind: 'proposed'; id: string }
  | { kind: 'conflict'; mine: DocumentContent; head: ConfigVersion }
  | { kind: 'rebased'; version: number; changes: number; both: string[] }
  | { kind: 'error'; message: string; issues: Array<{ pointer: string; message: string }> };

export function EditorPage({
  refKey,
  onSaved,
  onCancel,
  onHeadMoved,
  onError,
}: {
  refKey: string;
  onSaved: (version: number) => void;
  onCancel: () => void;
  /** Another writer's version was found (a `412`): the page reads its history again. */
  onHeadMoved: () => void;
  onError: (e: unknown) => void;
}) {
  const { scope, id } = splitRef(refKey);
  const [base, setBase] = useState<ConfigVersion | undefined>();
  const [text, setText] = useState('');
  const [revision, setRevision] = useState(0);
  const [schema, setSchema] = useState<{ version: number; schema: unknown } | null | undefined>();
  const [envs, setEnvs] = useState<Environment[]>([]);
  const [below, setBelow] = useState<ConfigVersion | undefined>();
  const [message, setMessage] = useState('');
  const [outcome, setOutcome] = useState<Outcome | undefined>();
  const [busy, setBusy] = useState(false);
  const [loadError, setLoadError] = useState<string | undefined>();
  const outcomeRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    Promise.all([
      getConfig(refKey),
      getSchema(id),
      listEnvironments(),
      scope === 'global' ? Promise.resolve(undefined) : findConfig(`global/${id}`),
    ])
      .then(([doc, s, e, g]) => {
        setBase(doc);
        setText(textOf(contentOf(doc)));
        setRevision((r) => r + 1);
        setSchema(s === undefined ? null : { version: s.version, schema: s.schema });
        setEnvs(e);
        setBelow(g);
      })
      .catch((e: unknown) => {
        onError(e);
        setLoadError(e instanceof Error ? e.message : String(e));
      });
  }, [refKey]);

  useEffect(() => {
    if (outcome !== undefined) outcomeRef.current?.focus();
  }, [outcome]);

  // Opening the editor moves focus to its heading, once loaded (the Edit button is gone).
  const loaded = base !== undefined;
  useEffect(() => {
    if (loaded) document.getElementById('edit-title')?.focus();
  }, [loaded]);

  const parsed = useMemo(() => parse(text), [text]);
  const issues = useMemo(() => {
    if (!('content' in parsed) || !schema) return [];
    return checkViews(schema.schema, parsed.content, below, envs);
  }, [parsed, schema, below, envs]);

  if (loadError !== undefined)
    return (
      <p role="alert" class="error">
        {loadError}
      </p>
    );
  if (base === undefined) return <p aria-live="polite">Loading the editor…</p>;

  const content = 'content' in parsed ? parsed.content : undefined;
  const ready = content !== undefined && issues.length === 0;

  const save = async (e: Event) => {
    e.preventDefault();
    if (content === undefined) return;
    setBusy(true);
    try {
      const saved = await putConfig(refKey, content, base.version, message.trim() || undefined);
      onSaved(saved.version);
    } catch (error) {
      onError(error);
      if (error instanceof ProblemError && error.status === 412) {
        try {
          setOutcome({ kind: 'conflict', mine: content, head: await getConfig(refKey) });
          onHeadMoved();
        } catch (again) {
          setOutcome({ kind: 'error', message: again instanceof Error ? again.message : String(again), issues: [] });
        }
      } else if (error instanceof ProblemError && error.code === 'APPROVAL_REQUIRED') {
        const names = Array.isArray(error.problem.environments) ? (error.problem.environments as string[]) : [];
        setOutcome({ kind: 'approval', environments: names });
      } else {
        const list = error instanceof ProblemError && Array.isArray(error.problem.issues) ? error.problem.issues : [];
        setOutcome({
          kind: 'error',
          message: error instanceof Error ? error.message : String(error),
          issues: list as Array<{ pointer: string; message: string }>,
        });
      }
    } finally {
      setBusy(false);
    }
  };

  const propose = async () => {
    if (content === undefined) return;
    setBusy(true);
    try {
      const request = await proposeChange({
        ref: refKey,
        kind: 'set',
        ...content,
        baseVersion: base.version,
        ...(message.trim() ? { message: message.trim() } : {}),
      });
      setOutcome({ kind: 'proposed', id: request.id });
    } catch (error) {
      onError(error);
      setOutcome({ kind: 'error', message: error instanceof Error ? error.message : String(error), issues: [] });
    } finally {
      setBusy(false);
    }
  };

  const rebase = (mine: DocumentContent, head: ConfigVersion) => {
    const changes = comparePaths(contentOf(base), mine);
    const theirs = comparePaths(contentOf(base), contentOf(head));
    const next = applyOps(contentOf(head), changes) as DocumentContent;
    // Paths both sides changed (one containing the other), to different values: yours is kept.
    const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
    const both = changes
      .filter((c) => theirs.some((t) => overlaps(c.path, t.path)))
      .filter((c) => comparePaths(mine, contentOf(head)).some((d) => overlaps(c.path, d.path)))
      .map((c) => c.path);
    setBase(head);
    setText(textOf(next));
    setRevision((r) => r + 1);
    setOutcome({ kind: 'rebased', version: head.version, changes: changes.length, both });
  };

  const takeHead = (head: ConfigVersion) => {
    setBase(head);
    setText(textOf(contentOf(head)));
    setRevision((r) => r + 1);
    setOutcome(undefined);
  };

  return (
    <section aria-labelledby="edit-title" class="editor">
      <h2 id="edit-title" tabIndex={-1}>
        Edit <span class="badge">based on version {base.version}</span>
      </h2>
      <form onSubmit={save}>
        <p id="editor-help" class="help">
          The document's <code>config</code>, <code>overrides</code> (by environment), <code>rollout</code> and{' '}
          <code>metadata</code>. Tab leaves the editor.{' '}
          {schema === undefined
            ? 'Loading the schema…'
            : schema === null
              ? `No schema is registered for ${id}: only JSON is checked.`
              : `Checked as you type against schema ${id} v${schema.version}, on the value of every environment.`}
        </p>
        <JsonEditor
          id="config-editor"
          label={`Document of ${refKey} (JSON)`}
          describedBy="editor-help editor-issues"
          text={text}
          revision={revision}
          onChange={setText}
        />
        <div id="editor-issues" aria-live="polite" class="issues">
          {'error' in parsed ? (
            <p class="invalid">
              <span aria-hidden="true">✖ </span>Invalid: {parsed.error}
            </p>
          ) : issues.length === 0 ? (
            <p class="valid">
              <span aria-hidden="true">✔ </span>Valid{schema ? ` against schema ${id} v${schema.version}` : ' JSON'}.
            </p>
          ) : (
            <>
              <p class="invalid">
                <span aria-hidden="true">✖ </span>
                {issues.length} schema issue{issues.length === 1 ? '' : 's'}:
              </p>
              <ul>
                {issues.map((i) => (
                  <li key={`${i.pointer}${i.message}`}>
                    <code>{i.pointer === '' ? '/' : i.pointer}</code> {i.message}{' '}
                    <span class="help">(in {i.views.join(', ')})</span>
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
        <label for="edit-message">Change message</label>
        <input id="edit-message" value={message} onInput={(e) => setMessage((e.target as HTMLInputElement).value)} />
        <div class="actions">
          <button type="submit" disabled={!ready || busy} aria-describedby="editor-issues">
            Save
          </button>
          <button type="button" class="secondary" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
      <div ref={outcomeRef} tabIndex={-1} id="edit-outcome">
        {outcome?.kind === 'approval' && (
          <div class="panel" role="alert">
            <h3>Approval required</h3>
            <p>
              This change touches guarded environment{outcome.environments.length === 1 ? '' : 's'}{' '}
              <strong>{outcome.environments.join(', ')}</strong>: it cannot be saved directly. Propose it as a change
              request (same content, based on version {base.version}) for approvers to review.
            </p>
            <button type="button" onClick={propose} disabled={busy}>
              Create change request
            </button>
          </div>
        )}
        {outcome?.kind === 'proposed' && (
          <div class="panel" role="status">
            <h3>Change request created</h3>
            <p>
              Change request <code id="change-request-id">{outcome.id}</code> awaits approval. Nothing was written yet.
            </p>
          </div>
        )}
        {outcome?.kind === 'rebased' && (
          <div role="status" class="panel">
            <p>
              Rebased onto version {outcome.version}: your {outcome.changes} change{outcome.changes === 1 ? '' : 's'}{' '}
              applied to it. Review, then save.
            </p>
            {outcome.both.length > 0 && (
              <p id="rebase-both">
                <strong>Changed on both sides</strong> (yours is kept, theirs replaced):{' '}
                {outcome.both.map((p, i) => (
                  <span key={p}>
                    {i > 0 ? ', ' : ''}
                    <code>{p}</code>
                  </span>
                ))}
              </p>
            )}
          </div>
        )}
        {outcome?.kind === 'error' && (
          <div role="alert" class="panel">
            <p class="error">{outcome.message}</p>
            {outcome.issues.length > 0 && (
              <ul>
                {outcome.issues.map((i) => (
                  <li key={`${i.pointer}${i.message}`}>
                    <code>{i.pointer || '/'}</code> {i.message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
        {outcome?.kind === 'conflict' && (
          <div class="panel conflict">
            <div role="alert">
              <h3>
                Not saved: version {outcome.head.version} was written since you loaded version {base.version}
              </h3>
            </div>
            <p>
              Nothing was overwritten. Your version and the current head
              {outcome.head.createdBy ? ` (by ${outcome.head.createdBy})` : ''} side by side:
            </p>
            <SideBySide
              id="conflict-diff"
              left={{ title: `Yours (edited from version ${base.version})`, value: outcome.mine }}
              right={{ title: `Current head: version ${outcome.head.version}`, value: contentOf(outcome.head) }}
              patch={comparePaths(outcome.mine, contentOf(outcome.head))}
            />
            <div class="actions">
              <button type="button" onClick={() => rebase(outcome.mine, outcome.head)}>
                Rebase my edits onto version {outcome.head.version}
              </button>
              <button type="button" class="secondary" onClick={() => takeHead(outcome.head)}>
                Discard my edits, load version {outcome.head.version}
              </button>
            </div>
          </div>
        )}
      </div>
    </section>
  );
}
