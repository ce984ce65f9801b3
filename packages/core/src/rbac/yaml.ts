/**
 * The role-bindings file (YAML):
 *
 *   roles:
 *     deployer:
 *       description: ships to staging
 *       permissions: [config:read, config:write, approval:request]
 *     auditor: [config:audit:read]          # short form
 *   bindings:
 *     - users: [alice]
 *       groups: [platform]
 *       roles: [config-admin]
 *     - groups: [billing-devs]
 *       roles: [deployer]
 *       scopes: ['app:billing']             # only for refs of these scopes
 *
 * A bad file is `CONSTRAINT_VIOLATION` naming the file, the line and the field.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { errors, messageOf } from '../errors/config-error.js';
import { createRbac, formatPath, normaliseDefinition, type Rbac, type RbacDefinition, RbacFieldError } from './rbac.js';

// `yaml` (CommonJS) is loaded on the first role-bindings text parsed, not when the package is imported.
const requireCjs = createRequire(import.meta.url);
let yamlModule: typeof Yaml | undefined;
function yaml(): typeof Yaml {
  yamlModule ??= requireCjs('yaml') as typeof Yaml;
  return yamlModule;
}

/**
 * Parses and validates a role-bindings YAML text; `source` names it in messages (default `rbac`).
 * Throws `CONSTRAINT_VIOLATION` with `<source> line L, column C, field F: problem`.
 */
export function parseRbacYaml(text: string, options: { source?: string } = {}): RbacDefinition {
  const source = options.source ?? 'rbac';
  if (typeof text !== 'string') throw errors.constraint(`${source}: the role-bindings file must be text`);
  const { isNode, LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const pos = lineCounter.linePos(first.pos[0]);
    const at = ` line ${pos.line}, column ${pos.col}`;
    throw errors.constraint(`${source}${at}: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw errors.constraint(`${source}: ${messageOf(error)}`);
  }
  try {
    normaliseDefinition(raw);
  } catch (error) {
    if (!(error instanceof RbacFieldError)) throw error;
    // The deepest node on the path that exists gives the line.
    let line = '';
    for (let n = error.path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(error.path.slice(0, n), true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        line = ` line ${pos.line}, column ${pos.col}`;
        break;
      }
    }
    throw errors.constraint(`${source}${line}, field ${formatPath(error.path)}: ${error.message}`);
  }
  return raw as RbacDefinition;
}

/** Reads a role-bindings file and builds the checker. Throws `CONSTRAINT_VIOLATION` for a bad file. */
export async function loadRbacFile(path: string): Promise<Rbac> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw errors.constraint(`cannot read role-bindings file ${path}: ${messageOf(error)}`, { cause: error });
  }
  return createRbac(parseRbacYaml(text, { source: path }));
}
