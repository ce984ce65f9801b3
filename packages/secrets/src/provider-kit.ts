/**
 * Shared pieces of the providers: the prelude of every method (closed check, abort signal,
 * argument checks), the errors they share, SDK calls with their failures mapped, and the redacting
 * {@link SecretValue}. Internal: not exported from the package index.
 */
import { inspect } from 'node:util';
import { abortReason, errors, Lifecycle, throwIfAborted } from '@summit-config/core/internal';
import type {
  PromoteOptions,
  SecretCallOptions,
  SecretProvider,
  SecretProviderCapabilities,
  SecretSelector,
  SecretStage,
  SecretValue,
  SecretVersionInfo,
  SecretVersionState,
  SecretWriteOptions,
} from './contract.js';
import { SECRET_STAGES } from './contract.js';
import {
  type FailedCall,
  isSecretError,
  providerFailure,
  type SecretError,
  type SecretErrorCode,
  type SecretErrorReason,
  secretError,
} from './errors.js';

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

/** How a cloud provider reads its SDK's failures (what is neither a `SecretError` nor an abort). */
export interface SdkErrors<C extends FailedCall = FailedCall> {
  /** The reason of a failed SDK call. */
  reason(error: unknown, call: C): SecretErrorReason;
  /** The message of a refused call, naming what the SDK reported. */
  refused(error: unknown): string;
  /** The message of a failure with reason `revoked`, when the provider has its own. */
  revoked?: string;
}

/** The members a provider implements itself; {@link ProviderKit.assemble} adds the rest. */
export type ProviderMethods = Pick<
  SecretProvider,
  'create' | 'read' | 'write' | 'promote' | 'revoke' | 'destroy' | 'listVersions'
>;

/**
 * What every provider method starts with, bound to one provider: the closed and abort checks and
 * the argument checks (the preludes {@link ProviderKit.prelude}, {@link ProviderKit.writing},
 * {@link ProviderKit.reading}, {@link ProviderKit.targeting}, {@link ProviderKit.promoting}), the
 * errors the providers share, and SDK calls with their failures mapped ({@link ProviderKit.call}).
 */
export class ProviderKit<C extends FailedCall = FailedCall> {
  readonly provider: string;
  readonly kind: string;
  readonly capabilities: SecretProviderCapabilities;
  readonly lifecycle: Lifecycle;
  readonly #namePattern: RegExp;
  readonly #nameRule: string;
  readonly #versionIds: RegExp | undefined;
  readonly #sdk: SdkErrors<C> | undefined;

  constructor(options: {
    provider: string;
    kind: string;
    namePattern: RegExp;
    nameRule: string;
    /** `maxValueBytes` bounds the values written; `labels` false refuses labels. */
    capabilities: SecretProviderCapabilities;
    /**
     * The form of this provider's version ids, where it has one: a version argument of another form
     * cannot exist and rejects `NOT_FOUND` before any call.
     */
    versionIds?: RegExp;
    /** A cloud provider's SDK failures, for {@link ProviderKit.call}. */
    sdk?: SdkErrors<C>;
  }) {
    this.provider = options.provider;
    this.kind = options.kind;
    this.capabilities = Object.freeze({ ...options.capabilities });
    this.lifecycle = new Lifecycle(`${options.kind} secret provider "${options.provider}"`);
    this.#namePattern = options.namePattern;
    this.#nameRule = options.nameRule;
    this.#versionIds = options.versionIds;
    this.#sdk = options.sdk;
  }

  /** Closed check, abort check. */
  begin(options: SecretCallOptions | undefined): void {
    this.lifecycle.assertOpen();
    throwIfAborted(options?.signal);
  }

  /** The prelude of every method: closed check, abort check, then the secret name. */
  prelude(secret: unknown, options: SecretCallOptions | undefined): void {
    this.begin(options);
    this.name(secret);
  }

  /** `create` and `write`: the prelude, the value, then the labels (returned, `{}` when none). */
  writing(secret: string, value: unknown, options: SecretWriteOptions | undefined): Record<string, string> {
    this.prelude(secret, options);
    this.value(value, secret);
    return this.labels(options?.labels, secret);
  }

  /** `read`: the prelude, then the selector (returned). */
  reading(secret: string, selector: unknown, options: SecretCallOptions | undefined): SecretSelector {
    this.prelude(secret, options);
    const sel = this.selector(selector, secret);
    if (typeof sel !== 'string') this.existing(sel.version, secret);
    return sel;
  }

  /** `revoke` and `destroy`: the prelude, then the version id. */
  targeting(secret: string, version: unknown, options: SecretCallOptions | undefined): void {
    this.prelude(secret, options);
    this.existing(version, secret);
  }

  /** `promote`: the prelude, the version id, then `expectedCurrent` (returned) when given. */
  promoting(secret: string, version: unknown, options: PromoteOptions | undefined): string | undefined {
    this.targeting(secret, version, options);
    const expected = options?.expectedCurrent;
    if (expected !== undefined) this.version(expected, secret);
    return expected;
  }

  /** A version id argument, which must also have this provider's form of version ids (if any). */
  existing(version: unknown, secret: string): string {
    const checked = this.version(version, secret);
    if (this.#versionIds && !this.#versionIds.test(checked)) throw this.missingVersion(secret, checked);
    return checked;
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
      throw this.error('invalid', `the value must be a string, got ${value === null ? 'null' : typeof value}`, secret);
    }
    if (value.length === 0) throw this.error('invalid', 'the value must not be empty', secret);
    const bytes = Buffer.byteLength(value, 'utf8');
    const max = this.capabilities.maxValueBytes;
    if (bytes > max) throw this.error('invalid', `the value is ${bytes} bytes, over the limit of ${max}`, secret);
    return value;
  }

  /** A version id argument: a non-empty string of at most 128 printable characters. */
  version(version: unknown, secret: string): string {
    if (typeof version !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(version)) {
      throw this.error('invalid', 'the version must be a non-empty string of printable characters', secret);
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
    throw this.error('invalid', 'the selector must be "current", "previous", "pending" or { version }', secret);
  }

  /** Checked labels: `{}` when none; rejects labels where the provider cannot keep them. */
  labels(labels: unknown, secret: string): Record<string, string> {
    if (labels === undefined) return {};
    if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
      throw this.error('invalid', 'labels must be an object of strings', secret);
    }
    const entries = Object.entries(labels as Record<string, unknown>);
    if (entries.length === 0) return {};
    if (!this.capabilities.labels) {
      throw this.error('invalid', 'this provider does not keep version labels (capabilities.labels is false)', secret);
    }
    if (entries.length > 10) throw this.error('invalid', 'at most 10 labels', secret);
    const out: Record<string, string> = {};
    for (const [k, v] of entries) {
      if (!/^[A-Za-z0-9_.-]{1,63}$/.test(k) || k === 'stage' || k === 'stageSince') {
        throw this.error('invalid', `invalid label key ${JSON.stringify(k.slice(0, 80))}`, secret);
      }
      if (typeof v !== 'string' || v.length > 256) {
        throw this.error('invalid', `label ${k} must be a string of at most 256 characters`, secret);
      }
      out[k] = v;
    }
    return out;
  }

  /** An error of this provider about `secret` (and its version `secretVersion`). */
  error(
    reason: SecretErrorReason,
    detail: string,
    secret: string,
    secretVersion?: string,
    cause?: unknown,
  ): SecretError<SecretErrorCode> {
    return secretError(reason, detail, { provider: this.provider, secret, secretVersion, cause });
  }

  missingSecret(secret: string): SecretError<SecretErrorCode> {
    return this.error('not-found', 'the secret does not exist', secret);
  }

  missingVersion(secret: string, version: string): SecretError<SecretErrorCode> {
    return this.error('not-found', 'the version does not exist', secret, version);
  }

  /** `found`, the version looked up; `NOT_FOUND` when there is none. */
  found<T>(secret: string, version: string, found: T | undefined): T {
    if (found === undefined) throw this.missingVersion(secret, version);
    return found;
  }

  /** `VERSION_CONFLICT` for a `promote` of `version` when `expected` is given and `current` is another. */
  expectCurrent(secret: string, version: string, expected: string | undefined, current: string | undefined): void {
    if (expected === undefined || current === expected) return;
    const shown = current ? `"${current}"` : 'none';
    throw this.error('conflict', `the current version is ${shown}, not "${expected}"`, secret, version);
  }

  /** The current version cannot be revoked or destroyed (reason `invalid`). */
  currentRefused(secret: string, version: string, verb: 'revoke' | 'destroy'): SecretError<SecretErrorCode> {
    return this.error('invalid', `cannot ${verb} the current version: promote another version first`, secret, version);
  }

  /**
   * One SDK call: closed and abort checks, then `run`. A `SecretError` rejects as it is, a call
   * aborted by `options.signal` with the signal's reason, any other failure as the provider's
   * {@link SdkErrors} read it (the SDK error kept only as a sanitised cause).
   */
  async call<T>(call: C, options: SecretCallOptions | undefined, run: () => Promise<T>): Promise<T> {
    this.begin(options);
    try {
      return await run();
    } catch (error) {
      if (isSecretError(error)) throw error;
      if (options?.signal?.aborted) throw abortReason(options.signal);
      const sdk = this.#sdk as SdkErrors<C>;
      throw providerFailure(this.provider, sdk.reason(error, call), error, call, {
        refused: sdk.refused(error),
        revoked: sdk.revoked,
      });
    }
  }

  /** The provider object: this kit's name, kind and capabilities, `methods`, and `close()` running `release` once. */
  assemble(methods: ProviderMethods, release: () => void | Promise<void>): SecretProvider {
    const provider: SecretProvider = {
      name: this.provider,
      kind: this.kind,
      capabilities: this.capabilities,
      ...methods,
      close: () => this.lifecycle.close(release),
      [Symbol.asyncDispose]: () => provider.close(),
    };
    return provider;
  }
}

/** A provider option check: throws `CONSTRAINT_VIOLATION` naming the option. */
export function optionError(provider: string, option: string, rule: string): Error {
  return errors.constraint(`${provider} secret provider option ${option} ${rule}`);
}

/** Checks an optional integer option: at least 1 (`min` 1), or at least 0 (`min` 0). */
export function integerOption(kind: string, option: string, value: unknown, min: 0 | 1): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || (value as number) < min)) {
    throw optionError(kind, option, `must be a ${min === 1 ? 'positive' : 'non-negative'} integer`);
  }
}

/** Validates the instance `name` option: `[a-z][a-z0-9-]{0,62}`. */
export function providerName(value: unknown, fallback: string, kind: string): string {
  const name = value ?? fallback;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
    throw optionError(kind, 'name', 'must match [a-z][a-z0-9-]{0,62}');
  }
  return name;
}
