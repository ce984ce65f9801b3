/**
 * Validation of rotation policies and the schedule arithmetic. Every check throws
 * `CONSTRAINT_VIOLATION` naming the bad field; nothing is stored before a policy passes.
 */
import { errors, isPlainObject } from '@summit-config/core/internal';
import { nextCronTime, parseCron } from './cron.js';
import { checkPasswordSpec } from './generators.js';
import type { GeneratorSpec, RotationPolicy, RotationPolicyInput, SecretId } from './types.js';

export const DAY_MS = 86_400_000;
/** Longest grace period accepted: a year. */
export const MAX_GRACE_MS = 366 * DAY_MS;
export const MAX_NOTIFY = 20;
const PROVIDER_RE = /^[a-z][a-z0-9-]{0,62}$/;
const HANDLER_RE = /^[A-Za-z0-9_.-]{1,128}$/;

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Checks `{ provider, name }`. */
export function checkSecretId(raw: unknown, where = 'secret'): SecretId {
  if (!isPlainObject(raw)) throw errors.constraint(`${where} must be an object { provider, name }`);
  for (const key of Object.keys(raw)) {
    if (key !== 'provider' && key !== 'name') throw errors.constraint(`${where} has an unknown field "${key}"`);
  }
  const { provider, name } = raw;
  if (typeof provider !== 'string' || !PROVIDER_RE.test(provider)) {
    throw errors.constraint(`${where}.provider must be a provider name matching [a-z][a-z0-9-]{0,62}`);
  }
  if (typeof name !== 'string' || name.length === 0 || name.length > 512 || hasControl(name) || !name.isWellFormed()) {
    throw errors.constraint(`${where}.name must be a secret name of 1-512 characters without control characters`);
  }
  return Object.freeze({ provider, name });
}

// `<provider>/<name>`: the policy's key (`secret_id` in SQL), defined with the storage contract in core.
export { secretKey } from '@summit-config/core/internal';

/** The `SecretId` of a key made by {@link secretKey}. */
export function parseSecretKey(key: string): SecretId {
  const slash = key.indexOf('/');
  return checkSecretId({ provider: key.slice(0, slash), name: key.slice(slash + 1) });
}

function checkGenerator(raw: unknown, handlers: ReadonlySet<string> | undefined): GeneratorSpec {
  if (raw === undefined) return { type: 'password' };
  if (!isPlainObject(raw)) throw errors.constraint('generator must be an object { type: "password" | "handler", ... }');
  if (raw.type === 'password') {
    const spec = checkPasswordSpec(raw, 'generator');
    return structuredClone({ ...spec, type: 'password' }) as GeneratorSpec;
  }
  if (raw.type === 'handler') {
    for (const key of Object.keys(raw)) {
      if (!['type', 'name', 'options'].includes(key)) {
        throw errors.constraint(`generator has an unknown field "${key}" (type, name, options)`);
      }
    }
    if (typeof raw.name !== 'string' || !HANDLER_RE.test(raw.name)) {
      throw errors.constraint('generator.name must be a handler name of 1-128 characters [A-Za-z0-9_.-]');
    }
    if (handlers && !handlers.has(raw.name)) {
      throw errors.constraint(`generator.name "${raw.name}" is not a registered handler`);
    }
    if (raw.options !== undefined) {
      if (!isPlainObject(raw.options)) throw errors.constraint('generator.options must be a JSON object');
      let text: string;
      try {
        text = JSON.stringify(raw.options);
      } catch {
        throw errors.constraint('generator.options must be a JSON object');
      }
      if (text.length > 16_384) throw errors.constraint('generator.options must be at most 16 KiB of JSON');
    }
    return structuredClone({
      type: 'handler',
      name: raw.name,
      ...(raw.options === undefined ? {} : { options: raw.options }),
    }) as GeneratorSpec;
  }
  throw errors.constraint('generator.type must be "password" or "handler"');
}

function checkNotify(raw: unknown): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > MAX_NOTIFY) {
    throw errors.constraint(`notify must be a list of at most ${MAX_NOTIFY} webhook URLs`);
  }
  return raw.map((u: unknown, i) => {
    let url: URL | undefined;
    try {
      url = typeof u === 'string' && u.length <= 2048 ? new URL(u) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw errors.constraint(`notify[${i}] must be an http or https URL of at most 2048 characters`);
    }
    if (url.username !== '' || url.password !== '') {
      throw errors.constraint(`notify[${i}] must not carry credentials in the URL (they would be stored in clear)`);
    }
    return url.toString();
  });
}

function isoOrUndefined(raw: unknown, field: string): string | undefined {
  if (raw === undefined) return undefined;
  const t = typeof raw === 'string' ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(t)) throw errors.constraint(`${field} must be an ISO-8601 date-time`);
  return new Date(t).toISOString();
}

/** The configuration part of a policy, checked. */
export interface CheckedPolicyInput {
  secret: SecretId;
  intervalDays: number | undefined;
  cron: string | undefined;
  graceMs: number;
  generator: GeneratorSpec;
  notify: string[];
  enabled: boolean;
  nextRotationAt: string | undefined;
}

/**
 * Checks what `putPolicy` was given. `handlers` are the registered handler names (a handler
 * generator must name one). Throws `CONSTRAINT_VIOLATION` naming the first bad field.
 */
export function checkPolicyInput(raw: unknown, handlers?: ReadonlySet<string>): CheckedPolicyInput {
  if (!isPlainObject(raw)) throw errors.constraint('a rotation policy must be an object');
  const known = [
    'secret',
    'intervalDays',
    'cron',
    'gracePeriodDays',
    'graceMs',
    'generator',
    'notify',
    'enabled',
    'nextRotationAt',
  ];
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) throw errors.constraint(`rotation policy has an unknown field "${key}"`);
  }
  const input = raw as unknown as RotationPolicyInput;
  const secret = checkSecretId(input.secret);
  if ((input.intervalDays === undefined) === (input.cron === undefined)) {
    throw errors.constraint('rotation policy needs exactly one of intervalDays and cron');
  }
  let intervalDays: number | undefined;
  let cron: string | undefined;
  if (input.intervalDays !== undefined) {
    if (
      typeof input.intervalDays !== 'number' ||
      !Number.isSafeInteger(input.intervalDays) ||
      input.intervalDays < 1 ||
      input.intervalDays > 3660
    ) {
      throw errors.constraint('intervalDays must be an integer in 1-3660');
    }
    intervalDays = input.intervalDays;
  } else {
    parseCron(input.cron);
    cron = (input.cron as string).trim().split(/\s+/).join(' ');
  }
  if (input.gracePeriodDays !== undefined && input.graceMs !== undefined) {
    throw errors.constraint('rotation policy takes gracePeriodDays or graceMs, not both');
  }
  let graceMs = 7 * DAY_MS;
  if (input.gracePeriodDays !== undefined) {
    const d = input.gracePeriodDays;
    if (typeof d !== 'number' || !Number.isFinite(d) || d < 0 || d * DAY_MS > MAX_GRACE_MS) {
      throw errors.constraint('gracePeriodDays must be a number of days in 0-366');
    }
    graceMs = Math.round(d * DAY_MS);
  } else if (input.graceMs !== undefined) {
    const ms = input.graceMs;
    if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0 || ms > MAX_GRACE_MS) {
      throw errors.constraint(`graceMs must be an integer in 0-${MAX_GRACE_MS}`);
    }
    graceMs = ms;
  }
  const enabled = input.enabled ?? true;
  if (typeof enabled !== 'boolean') throw errors.constraint('enabled must be a boolean');
  return {
    secret,
    intervalDays,
    cron,
    graceMs,
    generator: checkGenerator(input.generator, handlers),
    notify: checkNotify(input.notify),
    enabled,
    nextRotationAt: isoOrUndefined(input.nextRotationAt, 'nextRotationAt'),
  };
}

/** When the rotation after one at `from` is due: `from` + interval, or the next cron time after `from`. */
export function nextRotation(policy: Pick<RotationPolicy, 'intervalDays' | 'cron'>, from: Date): string | undefined {
  if (policy.intervalDays !== undefined) return new Date(from.getTime() + policy.intervalDays * DAY_MS).toISOString();
  if (policy.cron !== undefined) return nextCronTime(policy.cron, from)?.toISOString();
  return undefined;
}
