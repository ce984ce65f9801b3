/**
 * Checks of the change service's call inputs (shared by every area): option objects, audit sources,
 * texts, version numbers, environments and user metadata. Each throws `CONSTRAINT_VIOLATION` naming
 * what is wrong.
 */
import { type ChangeContent, checkApprovalPolicy } from '../approvals/policy.js';
import { AUDIT_SOURCES, type AuditSource } from '../audit/types.js';
import { errors } from '../errors/config-error.js';
import type { Environment } from '../model/environment.js';
import { assertJson, isPlainObject, type JsonObject } from '../model/json.js';
import { parseEnvironmentName } from '../model/ref.js';
import type { ConfigVersion } from '../model/version.js';
import { isTombstone } from './diff.js';
import { storableText } from './records.js';

/** Metadata keys the service writes itself; a write that sends one is refused. */
export const RESERVED_METADATA: readonly string[] = [
  'deleted',
  'changeRequest',
  'emergency',
  'rollbackOf',
  'restoredFrom',
  'unsynced',
  'signature',
  'approvedBy',
  'conflict',
  'resignOf',
];

/** What the approval policy compares: the content of a version (undefined for no version). */
export function changeContent(doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'>): ChangeContent;
export function changeContent(
  doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'> | undefined,
): ChangeContent | undefined;
export function changeContent(
  doc: Pick<ConfigVersion, 'config' | 'overrides' | 'rollout' | 'metadata'> | undefined,
): ChangeContent | undefined {
  if (!doc) return undefined;
  return {
    config: doc.config,
    overrides: doc.overrides,
    rollout: doc.rollout,
    deleted: isTombstone(doc),
  } satisfies ChangeContent;
}

export function checkEnvironmentInput(raw: unknown, where = 'environment'): Environment {
  if (!isPlainObject(raw))
    throw errors.constraint(`${where} must be an object { name, parent?, production, approvalPolicy? }`);
  for (const key of Object.keys(raw)) {
    if (!['name', 'parent', 'production', 'approvalPolicy'].includes(key)) {
      throw errors.constraint(`${where} has an unknown field "${key}"`);
    }
  }
  const name = parseEnvironmentName(raw.name);
  const env: Environment = { name, production: false };
  if (raw.parent !== undefined && raw.parent !== null) env.parent = parseEnvironmentName(raw.parent);
  if (raw.production !== undefined) {
    if (typeof raw.production !== 'boolean')
      throw errors.constraint(`${where} "${name}": production must be a boolean`);
    env.production = raw.production;
  }
  if (raw.approvalPolicy !== undefined && raw.approvalPolicy !== null) {
    env.approvalPolicy = structuredClone(checkApprovalPolicy(raw.approvalPolicy, `${where} "${name}"`));
  }
  return env;
}

export function checkSource(source: unknown, fallback: AuditSource): AuditSource {
  if (source === undefined) return fallback;
  if (!AUDIT_SOURCES.includes(source as AuditSource)) {
    throw errors.constraint(`source must be one of ${AUDIT_SOURCES.join(', ')}`);
  }
  return source as AuditSource;
}

export function optionsObject<T>(options: T | undefined, what: string): T {
  if (options === undefined) return {} as T;
  if (!isPlainObject(options)) throw errors.constraint(`${what} options must be an object`);
  return options;
}

export function checkText(value: unknown, what: string, max = 4096): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max || !storableText(value)) {
    throw errors.constraint(`${what} must be well-formed text of at most ${max} characters without NUL`);
  }
  return value;
}

export function checkVersionNumber(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw errors.constraint(`${what} must be an integer >= ${min}`);
  }
  return value;
}

/** User metadata of a write: a JSON object without the keys the service reserves. */
export function userMetadata(raw: unknown): JsonObject {
  if (raw === undefined) return {};
  if (!isPlainObject(raw)) throw errors.constraint('metadata must be a JSON object');
  for (const key of RESERVED_METADATA) {
    if (Object.hasOwn(raw, key)) throw errors.constraint(`metadata.${key} is reserved for the service`);
  }
  assertJson(raw, '/metadata');
  return raw as JsonObject;
}
