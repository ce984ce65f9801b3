/**
 * CodeMirror 6 set up for editing one JSON document. Loaded only by a dynamic `import()` from
 * json-editor.tsx, so Vite puts it (and CodeMirror) in its own chunk, outside the first load.
 * Tab is left to the browser (focus moves on; no `indentWithTab`), so the editor is no keyboard
 * trap. The editor lives in a shadow root: there CodeMirror's styles go into a constructed style
 * sheet (`adoptedStyleSheets`), which the console's CSP (`style-src 'self'`, no inline `<style>`)
 * allows; in the document itself they would be an inline `<style>` element, which it blocks.
 */
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { json } from '@codemirror/lang-json';
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { EditorState } from '@codemirror/state';
import { EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';

export interface JsonEditorHandle {
  /** Replaces the whole text. */
  setText(text: string): void;
  getText(): string;
  focus(): void;
  destroy(): void;
}

export function createJsonEditor(
  parent: ShadowRoot,
  text: string,
  onChange: (text: string) => void,
  attributes: Record<string, string>,
  describedBy: readonly Element[] = [],
): JsonEditorHandle {
  const view = new EditorView({
    root: parent,
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        history(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle),
        json(),
        keymap.of([...defaultKeymap, ...historyKeymap]),
        EditorView.contentAttributes.of(attributes),
        EditorView.lineWrapping,
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
        EditorView.theme({
          '&': { border: '1px solid #4a5361', borderRadius: '4px', fontSize: '0.95rem' },
          '&.cm-focused': { outline: '3px solid #c2410c', outlineOffset: '2px' },
          '.cm-content': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' },
          '.cm-scroller': { maxHeight: '28rem', overflow: 'auto' },
          '.cm-gutters': { color: '#4a5361', background: '#f5f7fa' },
        }),
      ],
    }),
  });
  // aria-describedby cannot name ids outside the shadow root; element reflection can.
  if (describedBy.length > 0)
    (view.contentDOM as unknown as { ariaDescribedByElements: readonly Element[] }).ariaDescribedByElements =
      describedBy;
  return {
    setText(next) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: next } });
    },
    getText: () => view.state.doc.toString(),
    focus: () => view.focus(),
    destroy: () => view.destroy(),
  };
}
