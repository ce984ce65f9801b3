/**
 * The JSON editor: CodeMirror 6, loaded on first use with a dynamic import (its own chunk, so the
 * first load stays small). Until it has loaded, and if it fails to load, a plain labelled textarea
 * stands in, so the page is usable either way. CodeMirror is mounted in a shadow root of the host
 * element (see codemirror.ts: the CSP).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JsonEditorHandle } from './codemirror';

export function JsonEditor({
  id,
  label,
  describedBy,
  text,
  revision,
  onChange,
}: {
  id: string;
  label: string;
  describedBy: string;
  /** The text to show; applied when `revision` changes (a load, a rebase), not on every keystroke. */
  text: string;
  revision: number;
  onChange: (text: string) => void;
}) {
  const host = useRef<HTMLDivElement>(null);
  const handle = useRef<JsonEditorHandle | undefined>();
  const latest = useRef({ text, onChange });
  latest.current = { text, onChange };
  const [state, setState] = useState<'loading' | 'ready' | 'failed'>('loading');

  useEffect(() => {
    let live = true;
    import('./codemirror')
      .then(({ createJsonEditor }) => {
        if (!live || host.current === null) return;
        const shadow = host.current.shadowRoot ?? host.current.attachShadow({ mode: 'open' });
        const described = describedBy
          .split(' ')
          .map((d) => document.getElementById(d))
          .filter((el): el is HTMLElement => el !== null);
        handle.current = createJsonEditor(
          shadow,
          latest.current.text,
          (t) => latest.current.onChange(t),
          { id, 'aria-label': label, 'aria-multiline': 'true' },
          described,
        );
        setState('ready');
      })
      .catch(() => live && setState('failed'));
    return () => {
      live = false;
      handle.current?.destroy();
      handle.current = undefined;
    };
  }, []);

  useEffect(() => {
    const h = handle.current;
    if (h !== undefined && h.getText() !== text) h.setText(text);
  }, [revision]);

  return (
    <div class="json-editor">
      <div ref={host} data-state={state} />
      {state !== 'ready' && (
        <>
          {state === 'loading' && <p class="help">Loading the editor…</p>}
          {state === 'failed' && <p class="help">The editor could not load: a plain text box stands in.</p>}
          <textarea
            id={id}
            aria-label={label}
            aria-describedby={describedBy}
            rows={16}
            value={text}
            onInput={(e) => onChange((e.target as HTMLTextAreaElement).value)}
          />
        </>
      )}
    </div>
  );
}
