import { parseDocument } from 'yaml';
import { messageOf } from '../errors/config-error.js';
import { definitionError } from './errors.js';

/**
 * Parses the text of a data file (a migration or a template) as JSON or YAML. YAML keys must be
 * unique and aliases are bounded. Throws `CONSTRAINT_VIOLATION` naming the file and the YAML line.
 */
export function parseDataText(
  text: string,
  format: 'json' | 'yaml',
  where: { file?: string | undefined; migration?: string | undefined },
): unknown {
  const fail = (message: string) =>
    definitionError(message, { pointer: '', file: where.file, migration: where.migration });
  if (format === 'json') {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw fail(`not valid JSON: ${messageOf(error)}`);
    }
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const problem = doc.errors[0];
  if (problem) {
    const line = text.slice(0, problem.pos[0]).split('\n').length;
    throw fail(`not valid YAML (line ${line}): ${problem.message.split('\n')[0]}`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}
