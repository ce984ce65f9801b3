/**
 * Shared pieces of the providers: argument checks, the redacting {@link SecretValue}, and the
 * per-call guard (closed check, abort signal). Internal: not exported from the package index
 * except {@link redactedSecretValue}'s type through the contract.
 */
import { inspect } from 'node:util';
import { errors, Lifecycle, throwIfAborted } from '@summit-config/core';
import type {
  SecretCallOptions,
  SecretSelector,
  SecretStage,
  SecretValue,
  SecretVersionInfo,
  SecretVersionState,
} from './contract.js';
import { SECRET_STAGES } from './contract.js';
import { secretError } from './errors.js';

const REDACTED = '[REDACTED]';

/** Builds a {@link SecretValue} whose `value` is non-enumerable and redacted from JSON and inspect. */
export function secretValue(fields: {
  name: string;
  version: string;
  value: string;
  createdAt: string | undefined;
}): SecretValue {
  const out = { name: fields.name, version: fields.version, createdAt: fields.createdAt };
  Object.defineProperty(out, 'value', { value: fields.value, enumerable: false });
  Object.defineProperty(out, 'toJSON', {
    value: () => ({ name: fields.name, version: fields.version, createdAt: fields.createdAt, value: REDACTED }),
    enumerable: false,
  });
  Object.defineProperty(out, inspect.custom, {
    value: () =>
      `SecretValue { name: ${JSON.stringify(fields.name)}, version: ${JSON.stringify(fields.version)}, value: ${REDACTED} }`,
    enumerable: false,
  });
  return Object.freeze(out) as SecretValue;
}

export function versionInfo(fields: {
  name: string;
  version: string;
  stage: SecretStage | undefined;
  state: SecretVersionState;
  createdAt: string | undefined;
  labels?: Record<string, string>;
  native?: readonly string[];
}): SecretVersionInfo {
  return Object.freeze({
    name: fields.name,
    version: fields.version,
    stage: fields.stage,
    state: fields.state,
    createdAt: fields.createdAt,
    labels: Object.freeze({ ...(fields.labels ?? {}) }),
    native: Object.freeze([...(fields.native ?? [])]),
  });
}

/** `Date | string | number (ms) | undefined` to ISO-8601, `undefined` when absent or invalid. */
export function toIso(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const d = value instanceof Date ? value : new Date(value as string | number);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The checks every provider method starts with, bound to one provider's name and lifecycle. */
export class ProviderKit {
  readonly provider: string;
  readonly lifecycle: Lifecycle;
  readonly #namePattern: RegExp;
  readonly #nameRule: string;
  readonly #maxValueBytes: number;
  readonly #labels: boolean;

  constructor(options: {
    provider: string;
    kind: string;
    namePattern: RegExp;
    nameRule: string;
    maxValueBytes: number;
    labels: boolean;
  }) {
    this.provider = options.provider;
    this.lifecycle = new Lifecycle(`${options.kind} secret provider "${options.provider}"`);
    this.#namePattern = options.namePattern;
    this.#nameRule = options.nameRule;
    this.#maxValueBytes = options.maxValueBytes;
    this.#labels = options.labels;
  }

  /** Closed check, abort check. */
  begin(options: SecretCallOptions | undefined): void {
    this.lifecycle.assertOpen();
    throwIfAborted(options?.signal);
  }

  name(name: unknown): string {
    if (typeof name !== 'string' || !this.#namePattern.test(name)) {
      const shown = typeof name === 'string' ? JSON.stringify(name.slice(0, 80)) : typeof name;
      throw secretError('invalid', `invalid secret name ${shown}: ${this.#nameRule}`, {
        provider: this.provider,
      });
    }
    return name;
  }

  /** A value to write: a non-empty string within `maxValueBytes`. The message never shows the value. */
  value(value: unknown, secret: string): string {
    if (typeof value !== 'string') {
      throw secretError('invalid', `the value must be a string, got ${value === null ? 'null' : typeof value}`, {
        provider: this.provider,
        secret,
      });
    }
    if (value.length === 0)
      throw secretError('invalid', 'the value must not be empty', { provider: this.provider, secret });
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > this.#maxValueBytes) {
      throw secretError('invalid', `the value is ${bytes} bytes, over the limit of ${this.#maxValueBytes}`, {
        provider: this.provider,
        secret,
      });
    }
    return value;
  }

  /** A version id argument: a non-empty string of at most 128 printable characters. */
  version(version: unknown, secret: string): string {
    if (typeof version !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(version)) {
      throw secretError('invalid', 'the version must be a non-empty string of printable characters', {
        provider: this.provider,
        secret,
      });
    }
    return version;
  }

  selector(selector: unknown, secret: string): SecretSelector {
    if (selector === undefined) return 'current';
    if (typeof selector === 'string' && (SECRET_STAGES as readonly string[]).includes(selector)) {
      return selector as SecretStage;
    }
    if (selector !== null && typeof selector === 'object' && 'version' in selector) {
      return { version: this.version((selector as { version: unknown }).version, secret) };
    }
    throw secretError('invalid', 'the selector must be "current", "previous", "pending" or { version }', {
      provider: this.provider,
      secret,
    });
  }

  /** Checked labels: `{}` when none; rejects labels where the provider cannot keep them. */
  labels(labels: unknown, secret: string): Record<string, string> {
    if (labels === undefined) return {};
    if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
      throw secretError('invalid', 'labels must be an object of strings', { provider: this.provider, secret });
    }
    const entries = Object.entries(labels as Record<string, unknown>);
    if (entries.length === 0) return {};
    if (!this.#labels) {
      throw secretError('invalid', 'this provider does not keep version labels (capabilities.labels is false)', {
        provider: this.provider,
        secret,
      });
    }
    if (entries.length > 10) throw secretError('invalid', 'at most 10 labels', { provider: this.provider, secret });
    const out: Record<string, string> = {};
    for (const [k, v] of entries) {
      if (!/^[A-Za-z0-9_.-]{1,63}$/.test(k) || k === 'stage' || k === 'stageSince') {
        throw secretError('invalid', `invalid label key ${JSON.stringify(k.slice(0, 80))}`, {
          provider: this.provider,
          secret,
        });
      }
      if (typeof v !== 'string' || v.length > 256) {
        throw secretError('invalid', `label ${k} must be a string of at most 256 characters`, {
          provider: this.provider,
          secret,
        });
      }
      out[k] = v;
    }
    return out;
  }
}

/** A provider option check: throws `CONSTRAINT_VIOLATION` naming the option. */
export function optionError(provider: string, option: string, rule: string): Error {
  return errors.constraint(`${provider} secret provider option ${option} ${rule}`);
}

/** Validates the instance `name` option: `[a-z][a-z0-9-]{0,62}`. */
export function providerName(value: unknown, fallback: string, kind: string): string {
  const name = value ?? fallback;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
    throw optionError(kind, 'name', 'must match [a-z][a-z0-9-]{0,62}');
  }
  return name;
}
