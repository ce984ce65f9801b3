/**
 * Serialisation of resolved configs for rendered files: JSON, YAML and `.env`.
 *
 * `.env`: nested objects are flattened to `KEY_SUB=value` (upper case, every character outside
 * `[A-Z0-9_]` becomes `_`); arrays are written as JSON text; strings are double-quoted with `\`,
 * `"`, `$`, `` ` ``, newlines and other control characters escaped, so the file is safe to `source`
 * from a shell and to read with dotenv; numbers and booleans are bare; `null` is an empty value.
 * Two keys that flatten to the same name are a `CONSTRAINT_VIOLATION` (nothing is written).
 */
import type { JsonObject, JsonValue } from '@summit-config/core';
import { errors, isPlainObject } from '@summit-config/core/internal';
import { stringify as stringifyYaml } from 'yaml';
import type { RenderFormat } from './config.js';

export function renderConfig(value: JsonObject, format: RenderFormat, envPrefix = ''): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(value, null, 2)}\n`;
    case 'yaml':
      return stringifyYaml(value, { lineWidth: 0 });
    case 'env':
      return renderEnv(value, envPrefix);
  }
}

function envKey(path: readonly string[], prefix: string): string {
  let key = prefix + path.map((p) => p.toUpperCase().replace(/[^A-Z0-9_]/g, '_')).join('_');
  if (!/^[A-Za-z_]/.test(key)) key = `_${key}`;
  return key;
}

/** Quotes a string for a `.env` file (and POSIX shells): double quotes, everything special escaped. */
export function quoteEnvValue(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (ch === '\\' || ch === '"' || ch === '$' || ch === '`') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

function scalar(value: JsonValue): string {
  if (value === null) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return quoteEnvValue(value);
  return quoteEnvValue(JSON.stringify(value));
}

export function renderEnv(value: JsonObject, prefix = ''): string {
  const lines: string[] = [];
  const seen = new Map<string, string>();
  const walk = (node: JsonObject, path: string[]) => {
    for (const key of Object.keys(node).sort()) {
      const child = node[key] as JsonValue;
      const childPath = [...path, key];
      if (isPlainObject(child) && Object.keys(child).length > 0) {
        walk(child as JsonObject, childPath);
        continue;
      }
      const name = envKey(childPath, prefix);
      const pointer = `/${childPath.join('/')}`;
      const clash = seen.get(name);
      if (clash !== undefined) {
        throw errors.constraint(`.env rendering: ${clash} and ${pointer} both become ${name}`);
      }
      seen.set(name, pointer);
      lines.push(`${name}=${isPlainObject(child) ? '' : scalar(child)}`);
    }
  };
  walk(value, []);
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
