/**
 * How new secret values are made: the random password generator, and custom handlers registered
 * by name on the rotation manager (a handler can also make the value usable, verify it, and retire
 * the previous one: see {@link RotationHandler}). {@link databaseUserHandler} is a ready one for
 * database logins that calls the functions you pass in.
 */
import { randomInt } from 'node:crypto';
import { errors, isPlainObject } from '@summit-config/core/internal';
import type { SecretProvider } from '../contract.js';
import type { PasswordGeneratorSpec, SecretId } from './types.js';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** No quotes, backslash, backtick or space: safe unquoted in shells, URLs' userinfo aside, and SQL literals. */
export const DEFAULT_SYMBOLS = '!#$%&()*+,-./:;<=>?@[]^_{|}~';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 4096;

/** The character classes a spec enables, checked. Throws `CONSTRAINT_VIOLATION` naming the bad field. */
function classesOf(spec: Omit<PasswordGeneratorSpec, 'type'>, where: string): { length: number; classes: string[] } {
  const length = spec.length ?? 32;
  if (
    typeof length !== 'number' ||
    !Number.isSafeInteger(length) ||
    length < MIN_PASSWORD_LENGTH ||
    length > MAX_PASSWORD_LENGTH
  ) {
    throw errors.constraint(`${where}.length must be an integer in ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH}`);
  }
  const classes: string[] = [];
  for (const [key, set] of [
    ['lower', LOWER],
    ['upper', UPPER],
    ['digits', DIGITS],
  ] as const) {
    const on = spec[key] ?? true;
    if (typeof on !== 'boolean') throw errors.constraint(`${where}.${key} must be a boolean`);
    if (on) classes.push(set);
  }
  const symbols = spec.symbols ?? true;
  if (symbols === true) classes.push(DEFAULT_SYMBOLS);
  else if (typeof symbols === 'string') {
    const unique = new Set(symbols);
    if (
      symbols.length === 0 ||
      symbols.length > 64 ||
      unique.size !== symbols.length ||
      ![...symbols].every((c) => /^[\x21-\x7e]$/.test(c) && !/[A-Za-z0-9]/.test(c))
    ) {
      throw errors.constraint(
        `${where}.symbols must be true, false, or 1-64 distinct printable ASCII characters that are not letters or digits`,
      );
    }
    classes.push(symbols);
  } else if (symbols !== false) {
    throw errors.constraint(`${where}.symbols must be true, false or a string of symbol characters`);
  }
  if (classes.length === 0) throw errors.constraint(`${where} enables no character class`);
  return { length, classes };
}

/** Checks a password spec (without `type`). Throws `CONSTRAINT_VIOLATION` naming the bad field. */
export function checkPasswordSpec(spec: unknown, where = 'generator'): Omit<PasswordGeneratorSpec, 'type'> {
  if (spec === undefined) return {};
  if (!isPlainObject(spec)) throw errors.constraint(`${where} must be an object`);
  for (const key of Object.keys(spec)) {
    if (!['type', 'length', 'lower', 'upper', 'digits', 'symbols'].includes(key)) {
      throw errors.constraint(`${where} has an unknown field "${key}" (length, lower, upper, digits, symbols)`);
    }
  }
  const out = spec as Omit<PasswordGeneratorSpec, 'type'>;
  classesOf(out, where);
  return out;
}

/**
 * A random password: `length` characters (default 32) drawn with `crypto.randomInt` from the
 * enabled classes (lower, upper, digits, symbols: all by default), each enabled class at least
 * once, in a uniformly shuffled order. Throws `CONSTRAINT_VIOLATION` for a bad spec.
 */
export function generatePassword(spec: Omit<PasswordGeneratorSpec, 'type'> = {}): string {
  const { length, classes } = classesOf(spec, 'password generator');
  const all = [...new Set(classes.join(''))].join('');
  const chars: string[] = classes.map((set) => set[randomInt(set.length)] as string);
  while (chars.length < length) chars.push(all[randomInt(all.length)] as string);
  // Fisher-Yates, so the guaranteed characters are not always first.
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join('');
}

/** What every handler hook receives. */
export interface HandlerContext {
  readonly secret: SecretId;
  readonly runId: string;
  /** The policy's `generator.options`. */
  readonly options: Readonly<Record<string, unknown>>;
  /** The provider holding the secret (borrowed: do not close it). */
  readonly provider: SecretProvider;
  /** Aborted when the manager closes or the caller aborts: stop and throw its reason. */
  readonly signal: AbortSignal;
  /** The current value, or `undefined` when the secret has none readable. */
  current(): Promise<string | undefined>;
  /** The value of a version id (e.g. the previous one, in `retire`). */
  read(version: string): Promise<string>;
}

/**
 * A custom way to rotate, registered on the manager by name and chosen by a policy's
 * `generator: { type: 'handler', name }`. Every hook may run again after a crash (a run resumes at
 * its recorded step), so `activate` and `retire` must be idempotent. A hook that throws fails the
 * step (retried with backoff, then `failed`); keep secret values out of its error messages (the
 * manager redacts the values it knows, but cannot know everything).
 */
export interface RotationHandler {
  /** The new value (text; JSON text for structured secrets). */
  generate(ctx: HandlerContext): Promise<string> | string;
  /** After the pending version is stored: make it usable (e.g. set the database password). */
  activate?(ctx: HandlerContext & { readonly value: string; readonly version: string }): Promise<void>;
  /** Before promote: prove the pending value works (e.g. log in with it). Throw to refuse it. */
  verify?(ctx: HandlerContext & { readonly value: string; readonly version: string }): Promise<void>;
  /** After the grace period, before the provider revokes it: retire the previous value (e.g. disable that login). */
  retire?(ctx: HandlerContext & { readonly previousVersion: string }): Promise<void>;
}

/** A handler that generates passwords per `spec`, with no other hooks. */
export function passwordHandler(spec: Omit<PasswordGeneratorSpec, 'type'> = {}): RotationHandler {
  checkPasswordSpec(spec, 'passwordHandler spec');
  return { generate: () => generatePassword(spec) };
}

export interface DatabaseUserHandlerOptions {
  /**
   * The login, or two logins that alternate: each rotation sets the password of the login that is
   * not current, so the previous login keeps working through the grace period (the usual scheme).
   * With one login, `activate` changes its password and the old one stops working at once.
   */
  users: string | readonly [string, string];
  /** Sets (and enables) the login's password, e.g. `ALTER ROLE "u" LOGIN PASSWORD '...'`. Idempotent. */
  setPassword(user: string, password: string, ctx: HandlerContext): Promise<void>;
  /** Logs in with it (the `verify` step). Throw when it fails. */
  testLogin?(user: string, password: string, ctx: HandlerContext): Promise<void>;
  /** The previous login after the grace period (the `retire` step), e.g. `ALTER ROLE "u" NOLOGIN`. Idempotent. */
  disableUser?(user: string, ctx: HandlerContext): Promise<void>;
  /** The password spec. Default 32 characters of all classes. */
  password?: Omit<PasswordGeneratorSpec, 'type'>;
}

interface UserSecret {
  username: string;
  password: string;
}

function parseUserSecret(text: string | undefined): UserSecret | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (isPlainObject(parsed) && typeof parsed.username === 'string' && typeof parsed.password === 'string') {
      return { username: parsed.username, password: parsed.password };
    }
  } catch {
    // Not JSON: no user in it. (JSON.parse's message would quote the text: never kept.)
  }
  return undefined;
}

function userSecret(text: string): UserSecret {
  const parsed = parseUserSecret(text);
  if (!parsed) throw errors.constraint('database user secret: the value is not JSON {"username", "password"}');
  return parsed;
}

/**
 * A handler for database logins: the secret is JSON `{"username": "...", "password": "..."}` (refer
 * to it with `field: "password"` / `field: "username"`). `generate` picks the login (the one that is
 * not current, with two) and a random password; `activate` calls `setPassword`; `verify` calls
 * `testLogin`; `retire` calls `disableUser` with the previous login when it differs from the new one.
 */
export function databaseUserHandler(options: DatabaseUserHandlerOptions): RotationHandler {
  if (!isPlainObject(options)) throw errors.constraint('databaseUserHandler options are required');
  const users = typeof options.users === 'string' ? [options.users] : options.users;
  if (
    !Array.isArray(users) ||
    users.length < 1 ||
    users.length > 2 ||
    users.some((u) => typeof u !== 'string' || u.length === 0 || u.length > 128) ||
    new Set(users).size !== users.length
  ) {
    throw errors.constraint('databaseUserHandler option users must be a login name or two different ones');
  }
  if (typeof options.setPassword !== 'function') {
    throw errors.constraint('databaseUserHandler option setPassword must be a function');
  }
  for (const key of ['testLogin', 'disableUser'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw errors.constraint(`databaseUserHandler option ${key} must be a function`);
    }
  }
  const spec = checkPasswordSpec(options.password ?? {}, 'databaseUserHandler option password');
  return {
    async generate(ctx) {
      const current = parseUserSecret(await ctx.current());
      const username =
        users.length === 2 && current !== undefined && users.includes(current.username)
          ? (users.find((u) => u !== current.username) as string)
          : (users[0] as string);
      return JSON.stringify({ username, password: generatePassword(spec) });
    },
    async activate(ctx) {
      const { username, password } = userSecret(ctx.value);
      await options.setPassword(username, password, ctx);
    },
    async verify(ctx) {
      if (!options.testLogin) return;
      const { username, password } = userSecret(ctx.value);
      await options.testLogin(username, password, ctx);
    },
    async retire(ctx) {
      if (!options.disableUser) return;
      const previous = parseUserSecret(await ctx.read(ctx.previousVersion).catch(() => undefined));
      const current = parseUserSecret(await ctx.current());
      if (!previous || previous.username === current?.username) return;
      await options.disableUser(previous.username, ctx);
    },
  };
}
