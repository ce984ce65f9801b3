/**
 * What a CLI run reads and writes, and the output helpers every command uses: human tables by
 * default, one JSON document with `--json` (NDJSON for streams), errors on stderr, and a progress
 * counter on stderr when it is a terminal.
 */
import type { Readable } from 'node:stream';
import type { OsUser } from './context.js';
import { errorPayload } from './exit-codes.js';

/** A writable the CLI prints to (`process.stdout`, or a test's sink). `isTTY` turns on progress. */
export interface CliWritable {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

/** The world of one CLI run. Every member defaults to the process's own. */
export interface CliIo {
  stdout?: CliWritable;
  stderr?: CliWritable;
  /** Read by `set`/`propose` (no --file/--json-value), `import -` and `secret create` without a value. */
  stdin?: Readable | NodeJS.ReadableStream;
  /** Environment variables (CONSUL_HTTP_ADDR, DATABASE_URL, SUMMIT_*). */
  env?: NodeJS.ProcessEnv;
  /**
   * The OS user the run acts as (its principal in direct mode). Default: the process's own
   * (`os.userInfo()`). Only in-process callers can set it (tests modelling several people).
   */
  user?: OsUser;
  /**
   * Stops long-running commands (`watch`, `secret rotate --wait`) and aborts long operations.
   * Default: SIGINT/SIGTERM while such a command runs.
   */
  signal?: AbortSignal;
}

export interface Output {
  readonly json: boolean;
  readonly stdout: CliWritable;
  readonly stderr: CliWritable;
  /** A line (or lines) on stdout. */
  line(text: string): void;
  /** One JSON document on stdout (pretty-printed). */
  document(value: unknown): void;
  /** One NDJSON line on stdout. */
  ndjson(value: unknown): void;
  /** The JSON document with `--json`, else the human text from `human()`. */
  result(value: unknown, human: () => string): void;
  /** A list: the items as one JSON document with `--json`, else a table of them (`empty` when there are none). */
  list<T>(items: readonly T[], empty: string, headers: readonly string[], row: (item: T) => readonly string[]): void;
  /** A note for humans on stderr (never with `--json`). */
  note(text: string): void;
  /** Prints an error: `error CODE: message` (plus hints) or `{"error":{...}}` with `--json`. */
  error(error: unknown, hint?: string): void;
  /** A counter on stderr when it is a terminal; silent otherwise. */
  progress(label: string): Progress;
}

export interface Progress {
  /** Sets the count (and optionally a detail such as the ref being processed). */
  update(count: number, detail?: string): void;
  /** Adds one. */
  tick(detail?: string): void;
  /** Clears the counter line. */
  done(): void;
}

const withNewline = (text: string) => (text.endsWith('\n') ? text : `${text}\n`);

export function createOutput(io: Required<Pick<CliIo, 'stdout' | 'stderr'>>, json: boolean): Output {
  const { stdout, stderr } = io;
  const out: Output = {
    json,
    stdout,
    stderr,
    line: (text) => void stdout.write(withNewline(text)),
    document: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    ndjson: (value) => void stdout.write(`${JSON.stringify(value)}\n`),
    result(value, human) {
      if (json) out.document(value);
      else {
        const text = human();
        if (text.length > 0) out.line(text);
      }
    },
    list(items, empty, headers, row) {
      out.result(items, () => (items.length === 0 ? empty : table(headers, items.map(row))));
    },
    note(text) {
      if (!json) stderr.write(withNewline(text));
    },
    error(error, hint) {
      const payload = errorPayload(error);
      if (json) {
        stderr.write(`${JSON.stringify({ error: hint ? { ...payload, hint } : payload })}\n`);
        return;
      }
      let text = `error ${payload.code}: ${payload.message}`;
      const issues = (payload as { issues?: Array<{ pointer: string; message: string }> }).issues;
      if (Array.isArray(issues)) {
        for (const issue of issues.slice(0, 20)) text += `\n  ${issue.pointer || '/'}: ${issue.message}`;
        if (issues.length > 20) text += `\n  ... and ${issues.length - 20} more`;
      }
      if (hint) text += `\nhint: ${hint}`;
      stderr.write(withNewline(text));
    },
    progress(label) {
      if (stderr.isTTY !== true) return { update() {}, tick() {}, done() {} };
      let count = 0;
      let last = 0;
      let shown = false;
      const draw = (detail?: string) => {
        const now = Date.now();
        if (now - last < 100) return;
        last = now;
        shown = true;
        const text = `${label} ${count}${detail ? ` ${detail}` : ''}`;
        stderr.write(`\r\u001b[2K${text.slice(0, 120)}`);
      };
      return {
        update(n, detail) {
          count = n;
          draw(detail);
        },
        tick(detail) {
          count++;
          draw(detail);
        },
        done() {
          if (shown) stderr.write('\r\u001b[2K');
        },
      };
    },
  };
  return out;
}

/**
 * Stored text (messages, authors) made safe for a terminal: control characters, ANSI escapes, line
 * and paragraph separators and bidirectional overrides are shown as `\n`, `\x1b`, `\u202e`, never
 * sent raw (a message must not be able to move the cursor, recolour or reorder what follows).
 */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
  });
}

/** Pads columns; the last column is not padded. Cells are single-line, control characters escaped. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows].map((r) => r.map((c) => printable(c)));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A JSON value shortened for a table cell. */
export function brief(value: unknown, max = 60): string {
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `2025-01-02T03:04:05.678Z` -> `2025-01-02 03:04:05`. */
export function when(iso: string | undefined): string {
  if (!iso) return '-';
  return iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z')
    .replace(/Z$/, '');
}

/** Reads a whole stream as UTF-8 text. */
export async function readAll(stream: Readable | NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
