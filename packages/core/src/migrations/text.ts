/** Reading definition files (migrations and templates): their directory, their text, JSON or YAML. */
import { readdir, readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { messageOf } from '../errors/config-error.js';
import { type DefinitionWhere, failAt, MigrationError } from './errors.js';

/** The entries of a definitions directory; `NOT_FOUND` naming `what` (`the migrations directory`) when it cannot be read. */
export async function readDefinitionDir(dir: string, what: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    throw new MigrationError('NOT_FOUND', `cannot read ${what} ${dir}: ${messageOf(error)}`, {
      file: dir,
      cause: error,
    });
  }
}

/** The text of a definition file; `NOT_FOUND` naming `what` (`migration file`) when it cannot be read. */
export async function readDefinitionFile(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new MigrationError('NOT_FOUND', `cannot read ${what} ${file}: ${messageOf(error)}`, { file, cause: error });
  }
}

/**
 * Parses the text of a data file (a migration or a template) as JSON or YAML. YAML keys must be
 * unique and aliases are bounded. Throws `CONSTRAINT_VIOLATION` naming the file and the YAML line.
 */
export function parseDataText(text: string, format: 'json' | 'yaml', where: DefinitionWhere): unknown {
  const fail = (message: string) => failAt(message, '', where);
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
