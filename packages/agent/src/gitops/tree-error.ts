/**
 * The error of a malformed gitops tree: `CONSTRAINT_VIOLATION` naming the file (relative to the tree's
 * root, `/`-separated) and, when known, the line and column (1-based). Thrown by the parser before
 * anything is read from or written to a store.
 */
import { ConfigError } from '@summit-config/core';

/** Where in the tree a problem is: the file, and the 1-based line and column when known. */
export interface TreePosition {
  file: string;
  line?: number;
  column?: number;
}

/**
 * A file of the tree that cannot be used; `message` starts with `file:line:column` and, when there
 * is a line, ends with it in words: `(line 3, column 1)`.
 */
export class GitopsTreeError extends ConfigError<'CONSTRAINT_VIOLATION'> {
  /** The file, relative to the tree's root (`configs/global/db.yaml`). */
  readonly file: string;
  /** 1-based line, when the problem has a position. */
  readonly line: number | undefined;
  /** 1-based column, when the problem has a position. */
  readonly column: number | undefined;

  constructor(position: TreePosition, problem: string, options: { ref?: string; cause?: unknown } = {}) {
    super('CONSTRAINT_VIOLATION', `${where(position)}: ${problem}${inWords(position)}`, options);
    this.name = 'GitopsTreeError';
    this.file = position.file;
    this.line = position.line;
    this.column = position.column;
  }

  override toJSON(): Record<string, unknown> {
    const out = super.toJSON();
    out.file = this.file;
    if (this.line !== undefined) out.line = this.line;
    if (this.column !== undefined) out.column = this.column;
    return out;
  }
}

/** `file:line:column` (the parts that are known). */
export function where(position: TreePosition): string {
  let text = position.file;
  if (position.line !== undefined) text += `:${position.line}`;
  if (position.line !== undefined && position.column !== undefined) text += `:${position.column}`;
  return text;
}

/** ` (line L, column C)` when the position has a line, else nothing. */
function inWords(position: TreePosition): string {
  if (position.line === undefined) return '';
  return ` (line ${position.line}${position.column === undefined ? '' : `, column ${position.column}`})`;
}

/** The 1-based line and column of a 0-based character offset in `text`. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

/**
 * The position of a `JSON.parse` failure, from its message: V8 says `at position N` (and newer ones
 * `(line L column C)`). Undefined when the message names neither (e.g. unexpected end of input: the
 * last line is then used by the caller).
 */
export function jsonErrorPosition(text: string, message: string): { line: number; column: number } | undefined {
  const lc = /line (\d+) column (\d+)/.exec(message);
  if (lc) return { line: Number(lc[1]), column: Number(lc[2]) };
  const pos = /at position (\d+)/.exec(message);
  if (pos) return lineColumnAt(text, Number(pos[1]));
  if (/end of (JSON )?input/i.test(message)) return lineColumnAt(text, text.length);
  return undefined;
}
