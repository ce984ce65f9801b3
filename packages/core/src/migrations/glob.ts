/**
 * Glob patterns of migration selectors.
 *
 * - Config ids: segments joined by `/`; in a segment `*` matches any run of characters and `?` one
 *   character (never a `/`); a whole segment `**` matches zero or more segments
 *   (`services/**` matches `services`, `services/a` and `services/a/b`).
 * - Scopes (`global`, `app:billing`, `app:*`) and environment names are single segments.
 */
import { errors } from '../errors/config-error.js';

const ID_SEGMENT = /^[A-Za-z0-9_.*?-]+$/;
const SCOPE_PATTERN = /^[A-Za-z0-9_.:*?-]+$/;
const ENV_PATTERN = /^[A-Za-z0-9_.*?-]+$/;

function segmentRegex(segment: string): RegExp {
  let out = '^';
  for (const ch of segment) {
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else out += ch.replace(/[.+^${}()|[\]\\-]/g, '\\$&');
  }
  return new RegExp(`${out}$`, 's');
}

export function hasWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/** A compiled id pattern. */
export interface IdPattern {
  readonly pattern: string;
  /** Literal text every matching id starts with (for store listing by prefix). */
  readonly prefix: string;
  matches(id: string): boolean;
}

/**
 * Compiles an id glob. Throws `CONSTRAINT_VIOLATION` for an empty pattern, an empty / `.` / `..`
 * segment, a character ids cannot hold, or `**` mixed with other characters in one segment.
 */
export function compileIdPattern(pattern: unknown): IdPattern {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 256) {
    throw errors.constraint('an id pattern must be a string of 1-256 characters');
  }
  const segments = pattern.split('/');
  const compiled: Array<RegExp | '**'> = [];
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw errors.constraint(`id pattern ${JSON.stringify(pattern)} has an empty, "." or ".." segment`);
    }
    if (!ID_SEGMENT.test(segment)) {
      throw errors.constraint(
        `id pattern ${JSON.stringify(pattern)}: segment ${JSON.stringify(segment)} may only contain letters, digits, "_", ".", "-", "*" and "?"`,
      );
    }
    if (segment.includes('**') && segment !== '**') {
      throw errors.constraint(`id pattern ${JSON.stringify(pattern)}: "**" must be a whole segment`);
    }
    compiled.push(segment === '**' ? '**' : segmentRegex(segment));
  }
  if (compiled.filter((c) => c === '**').length > 4) {
    throw errors.constraint(`id pattern ${JSON.stringify(pattern)} has more than 4 "**" segments`);
  }
  const wild = pattern.search(/[*?]/);
  const prefix = wild < 0 ? pattern : pattern.slice(0, wild);
  return {
    pattern,
    prefix,
    matches(id: string): boolean {
      const parts = id.split('/');
      const memo = new Map<number, boolean>();
      const match = (p: number, i: number): boolean => {
        const key = p * 1024 + i;
        const known = memo.get(key);
        if (known !== undefined) return known;
        let result: boolean;
        if (p === compiled.length) result = i === parts.length;
        else {
          const c = compiled[p];
          if (c === '**') result = match(p + 1, i) || (i < parts.length && match(p, i + 1));
          else result = i < parts.length && (c as RegExp).test(parts[i] as string) && match(p + 1, i + 1);
        }
        memo.set(key, result);
        return result;
      };
      return match(0, 0);
    },
  };
}

/** A compiled single-segment pattern (scope or environment name). */
export interface NamePattern {
  readonly pattern: string;
  readonly literal: boolean;
  matches(name: string): boolean;
}

function compileName(pattern: unknown, what: string, allowed: RegExp): NamePattern {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 140) {
    throw errors.constraint(`a ${what} pattern must be a string of 1-140 characters`);
  }
  if (!allowed.test(pattern) || pattern.includes('/')) {
    throw errors.constraint(`${what} pattern ${JSON.stringify(pattern)} has a character a ${what} cannot hold`);
  }
  const re = segmentRegex(pattern);
  return { pattern, literal: !hasWildcard(pattern), matches: (name) => re.test(name) };
}

/** Compiles a scope pattern: `global`, `app:<name>`, or a glob over them such as `app:*` or `*`. */
export function compileScopePattern(pattern: unknown): NamePattern {
  const compiled = compileName(pattern, 'scope', SCOPE_PATTERN);
  const p = compiled.pattern;
  if (compiled.literal && p !== 'global' && !(p.startsWith('app:') && p.length > 4 && !p.slice(4).includes(':'))) {
    throw errors.constraint(`scope pattern ${JSON.stringify(p)} must be "global", "app:<name>" or a glob`);
  }
  if (!compiled.literal) {
    // A glob that can match neither "global" nor "app:..." is a typo, not a selector.
    const literal = p.slice(0, p.search(/[*?]/));
    if (!'global'.startsWith(literal) && !'app:'.startsWith(literal) && !literal.startsWith('app:')) {
      throw errors.constraint(`scope pattern ${JSON.stringify(p)} can match neither "global" nor "app:<name>"`);
    }
  }
  return compiled;
}

/** Compiles an environment-name pattern (`production`, `prod*`, `*`). */
export function compileEnvironmentPattern(pattern: unknown): NamePattern {
  return compileName(pattern, 'environment', ENV_PATTERN);
}
