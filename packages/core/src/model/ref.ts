import { errors } from '../errors/config-error.js';

/** `global`, or `app:<name>` for one application. */
export type Scope = 'global' | `app:${string}`;

/** Identifies one configuration document. */
export interface ConfigRef {
  readonly scope: Scope;
  /** Path of segments `[A-Za-z0-9_.-]+` joined by `/`, at most 256 characters. */
  readonly id: string;
}

export const MAX_ID_LENGTH = 256;
const SEGMENT = /^[A-Za-z0-9_.-]+$/;

function checkSegment(segment: string, what: string, raw: string): void {
  if (segment === '' || segment === '.' || segment === '..') {
    throw errors.invalidRef(`${what} has an empty, "." or ".." segment: ${JSON.stringify(raw)}`, raw);
  }
  if (!SEGMENT.test(segment)) {
    throw errors.invalidRef(
      `${what} segment ${JSON.stringify(segment)} may only contain letters, digits, "_", "." and "-"`,
      raw,
    );
  }
}

/** Validates a scope string and returns it typed; throws `INVALID_CONFIG_REF`. */
export function parseScope(scope: unknown): Scope {
  if (typeof scope !== 'string') throw errors.invalidRef(`scope must be a string, got ${typeof scope}`);
  if (scope === 'global') return scope;
  if (scope.startsWith('app:')) {
    const app = scope.slice(4);
    if (app.length === 0 || app.length > 128) throw errors.invalidRef(`app name must be 1-128 characters`, scope);
    checkSegment(app, 'app name', scope);
    return scope as Scope;
  }
  throw errors.invalidRef(`scope must be "global" or "app:<name>", got ${JSON.stringify(scope)}`, scope);
}

/** Validates an id string; throws `INVALID_CONFIG_REF`. */
export function parseId(id: unknown): string {
  if (typeof id !== 'string') throw errors.invalidRef(`id must be a string, got ${typeof id}`);
  if (id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw errors.invalidRef(`id must be 1-${MAX_ID_LENGTH} characters, got ${id.length}`, id.slice(0, 300));
  }
  for (const segment of id.split('/')) checkSegment(segment, 'id', id);
  return id;
}

/**
 * Validates a ref given as an object or as the string `<scope>/<id>` (e.g. `app:billing/database`),
 * and returns a frozen, normalised copy. Throws `INVALID_CONFIG_REF` before anything touches a store.
 */
export function parseRef(input: unknown): ConfigRef {
  if (typeof input === 'string') {
    const slash = input.indexOf('/');
    if (slash < 0) throw errors.invalidRef(`ref must look like "<scope>/<id>", got ${JSON.stringify(input)}`, input);
    return Object.freeze({ scope: parseScope(input.slice(0, slash)), id: parseId(input.slice(slash + 1)) });
  }
  if (input === null || typeof input !== 'object') {
    throw errors.invalidRef(
      `ref must be an object { scope, id } or a string, got ${input === null ? 'null' : typeof input}`,
    );
  }
  const { scope, id } = input as { scope?: unknown; id?: unknown };
  return Object.freeze({ scope: parseScope(scope), id: parseId(id) });
}

/** The canonical string form `<scope>/<id>`, used as a map key and in messages. */
export function refKey(ref: ConfigRef): string {
  return `${ref.scope}/${ref.id}`;
}

/** The app name of an `app:<name>` scope, or undefined for `global`. */
export function scopeApp(scope: Scope): string | undefined {
  return scope === 'global' ? undefined : scope.slice(4);
}

/** Validates an environment name: one segment of `[A-Za-z0-9_.-]+`, at most 128 characters. */
export function parseEnvironmentName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128) {
    throw errors.constraint(`environment name must be a string of 1-128 characters`);
  }
  if (!SEGMENT.test(name) || name === '.' || name === '..') {
    throw errors.constraint(
      `environment name ${JSON.stringify(name)} may only contain letters, digits, "_", "." and "-"`,
    );
  }
  return name;
}
