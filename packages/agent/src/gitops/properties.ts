/**
 * Java `.properties` files as Spring reads them, turned into nested JSON for the Spring import
 * (docs/gitops-import.md, "Properties files"):
 * - the `java.util.Properties` syntax: `#`/`!` comments, `key=value`, `key: value` or `key value`,
 *   a trailing `\` continues the line, escapes `\t \n \r \f \uXXXX` and `\<char>`;
 * - Spring's multi-document files: a line `#---` (or `!---`) starts a new document;
 * - names are paths: `a.b.c=1` is `{ a: { b: { c: 1 } } }`, `a[0]=x` a list (indices 0..n-1, no
 *   gaps), `a[x.y]=1` a map key kept whole; keys are kept as written (no relaxed renaming);
 * - values are strings, except `true`/`false` (booleans) and decimal numbers written canonically
 *   (`8080`, `-1`, `0.75`, `1e3`; not `007`, `+1`, `1.`, or integers beyond 2^53), which become
 *   numbers; an empty value is `""`. A later duplicate key replaces the earlier one.
 */
import type { JsonObject, JsonValue } from '@summit-config/core';
import { finishLists, ImportSourceError, setPath, splitPropertyPath } from './import-source.js';

/** One document of a properties file: its entries nested, and the 1-based line it starts on. */
export interface PropertiesDocument {
  value: JsonObject;
  line: number;
  /** Each top-level property name as written, with its line (to locate problems later). */
  lines: Map<string, number>;
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** The JSON value of a property's text (see the module comment). */
export function propertyValue(text: string): JsonValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (NUMBER.test(text)) {
    const n = Number(text);
    const integral = !text.includes('.') && !/[eE]/.test(text);
    if (Number.isFinite(n) && (!integral || Number.isSafeInteger(n))) return n;
  }
  return text;
}

/** Logical lines: comments and blanks dropped, continuations joined; each with its first line number. */
function logicalLines(text: string): { text: string; line: number; separator: boolean }[] {
  const physical = text.split(/\r\n|\r|\n/);
  const out: { text: string; line: number; separator: boolean }[] = [];
  for (let i = 0; i < physical.length; i++) {
    const start = i;
    let line = (physical[i] as string).replace(/^[ \t\f]+/, '');
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith('!')) {
      if (/^[#!]---\s*$/.test(line)) out.push({ text: '', line: start + 1, separator: true });
      continue;
    }
    while (endsWithContinuation(line) && i + 1 < physical.length) {
      i++;
      line = line.slice(0, -1) + (physical[i] as string).replace(/^[ \t\f]+/, '');
    }
    if (endsWithContinuation(line)) line = line.slice(0, -1);
    out.push({ text: line, line: start + 1, separator: false });
  }
  return out;
}

function endsWithContinuation(line: string): boolean {
  let slashes = 0;
  for (let i = line.length - 1; i >= 0 && line[i] === '\\'; i--) slashes++;
  return slashes % 2 === 1;
}

/** Undoes the escapes of a key or value; throws a plain `Error` on a malformed `\u`. */
function unescapeProperty(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = text[++i];
    if (next === undefined) break;
    if (next === 'u') {
      const hex = text.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Error(`malformed \\u escape "\\u${hex}"`);
      out += String.fromCharCode(Number.parseInt(hex, 16));
      i += 4;
    } else out += next === 't' ? '\t' : next === 'n' ? '\n' : next === 'r' ? '\r' : next === 'f' ? '\f' : next;
  }
  return out;
}

/** Splits a logical line into its raw key and value (the separator is `=`, `:` or whitespace). */
function splitEntry(line: string): [string, string] {
  let i = 0;
  while (i < line.length) {
    const c = line[i] as string;
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '=' || c === ':' || c === ' ' || c === '\t' || c === '\f') break;
    i++;
  }
  const key = line.slice(0, i);
  let rest = line.slice(i).replace(/^[ \t\f]+/, '');
  if (rest.startsWith('=') || rest.startsWith(':')) {
    // Only when the key ended on whitespace, or at the separator itself.
    rest = rest.slice(1).replace(/^[ \t\f]+/, '');
  }
  return [key, rest];
}

/**
 * Parses a properties file into its documents (one unless `#---` lines split it; empty documents
 * are kept so a document's position matches Spring's). Throws {@link ImportSourceError} naming
 * `file` and the line of a malformed name or escape, or of a conflicting path.
 */
export function parseProperties(text: string, file: string): PropertiesDocument[] {
  const docs: PropertiesDocument[] = [];
  let current: { value: JsonObject; line: number; lines: Map<string, number> } = {
    value: {},
    line: 1,
    lines: new Map(),
  };
  const finish = () => {
    try {
      docs.push({ ...current, value: finishLists(current.value) as JsonObject });
    } catch (error) {
      const listName = /"([^"]*)"/.exec((error as Error).message)?.[1] ?? '';
      const line = [...current.lines].find(([name]) => name.startsWith(listName))?.[1] ?? current.line;
      throw new ImportSourceError(file, line, (error as Error).message);
    }
  };
  for (const entry of logicalLines(text)) {
    if (entry.separator) {
      finish();
      current = { value: {}, line: entry.line + 1, lines: new Map() };
      continue;
    }
    try {
      const [rawKey, rawValue] = splitEntry(entry.text);
      const key = unescapeProperty(rawKey);
      if (key === '') throw new Error('a property with an empty name');
      setPath(current.value, splitPropertyPath(key), propertyValue(unescapeProperty(rawValue)));
      current.lines.set(key, entry.line);
    } catch (error) {
      throw new ImportSourceError(file, entry.line, (error as Error).message, error);
    }
  }
  finish();
  return docs;
}
