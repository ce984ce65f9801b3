/**
 * What a run writes and reads back: the messages and metadata of the versions it writes, the
 * before / after fields of its ref records, and the reasons a migration cannot run.
 */
import { type ErrorCode, isConfigError, messageOf } from '../errors/config-error.js';
import { isPlainObject, type JsonObject } from '../model/json.js';
import type { ConfigVersion } from '../model/version.js';
import { isTombstone } from '../service/diff.js';
import type { MigrationRecord, MigrationRefRecord } from '../store/migration-history.js';
import { MigrationError } from './errors.js';
import { contentChecksum } from './operations.js';
import type { MigratedContent, Migration } from './types.js';

/** Times a write that met a `VERSION_CONFLICT` is tried again (after reading the head again). */
const MAX_CONFLICT_RETRIES = 3;

type Content = Pick<ConfigVersion, 'config' | 'overrides' | 'rollout'>;

/** The message of the versions (and change requests) a migration writes. */
export function migrationMessage(m: Pick<Migration, 'name' | 'version' | 'description'>, run: number): string {
  const text = `migration ${m.name}@${m.version} (run ${run})${m.description ? `: ${m.description}` : ''}`;
  return text.length > 1000 ? `${text.slice(0, 999)}…` : text;
}

/** The message of the versions a migration's rollback writes. */
export function rollbackMessage(name: string, run: number): string {
  return `rollback of migration ${name} (run ${run})`;
}

/** The metadata of the versions (and change requests) a migration writes: it marks them as this run's. */
export function metadataOf(m: Migration, run: number): JsonObject {
  return { migration: { name: m.name, version: m.version, checksum: m.checksum, run } };
}

/** Whether a version's (or request's) metadata marks it as written by run `run` of migration `name`. */
export function markedBy(metadata: unknown, name: string, run: number): boolean {
  if (!isPlainObject(metadata) || !isPlainObject(metadata.migration)) return false;
  const marker = metadata.migration;
  return marker.name === name && marker.run === run;
}

export function errorInfo(error: unknown): { code: ErrorCode; message: string } {
  if (isConfigError(error)) return { code: error.code, message: error.message };
  return { code: 'CONSTRAINT_VIOLATION', message: messageOf(error) };
}

/**
 * What to do about a write that failed: `retry` a version conflict (a few times), `propose` the
 * change when a guarded environment needs approval; anything else is thrown.
 */
export function afterWriteError(error: unknown, attempt: number): 'retry' | 'propose' {
  if (isConfigError(error, 'VERSION_CONFLICT') && attempt < MAX_CONFLICT_RETRIES) return 'retry';
  if (!isConfigError(error, 'APPROVAL_REQUIRED')) throw error;
  return 'propose';
}

export function contentOf(doc: Content): MigratedContent {
  return { config: doc.config, overrides: { ...doc.overrides }, rollout: doc.rollout };
}

/** The `before*` fields of a ref record read from `doc`. */
export function beforeOf(
  doc: ConfigVersion,
): Pick<MigrationRefRecord, 'beforeVersion' | 'beforeChecksum' | 'beforeContent'> {
  return { beforeVersion: doc.version, beforeChecksum: doc.checksum, beforeContent: contentChecksum(doc) };
}

/** The `after*` fields of a ref record read from `doc`. */
export function afterOf(
  doc: ConfigVersion,
): Required<Pick<MigrationRefRecord, 'afterVersion' | 'afterChecksum' | 'afterContent'>> {
  return { afterVersion: doc.version, afterChecksum: doc.checksum, afterContent: contentChecksum(doc) };
}

/** Whether a ref's content differs from what the migration left (a later version with equal content is no change). */
export function changedSince(head: ConfigVersion | undefined, r: MigrationRefRecord): boolean {
  if (!head || isTombstone(head)) return true;
  if (head.version === r.afterVersion) return false;
  return r.afterContent === undefined || contentChecksum(head) !== r.afterContent;
}

/** The run an apply of a migration with this record would be, and whether it resumes one that stopped part-way. */
export function nextRun(record: MigrationRecord | undefined): { resuming: boolean; run: number } {
  const resuming = record?.status === 'running' || record?.status === 'failed';
  return { resuming, run: resuming ? (record as MigrationRecord).run : (record?.run ?? 0) + 1 };
}

export function changedError(m: Migration, record: MigrationRecord): MigrationError {
  return new MigrationError(
    'CHECKSUM_MISMATCH',
    `migration ${m.name} changed since it ran (checksum ${record.checksum.slice(0, 12)}… recorded for run ${record.run}, ${m.checksum.slice(0, 12)}… now): restore it, or roll it back first, or write a new migration`,
    { migration: m.name },
  );
}

/** Why `m` cannot be applied given its record (changed since it ran, or its rollback is unfinished), if it cannot. */
export function cannotApply(m: Migration, record: MigrationRecord | undefined): MigrationError | undefined {
  if (record && record.checksum !== m.checksum && record.status !== 'rolled_back') return changedError(m, record);
  if (record?.status === 'rolling_back') {
    return new MigrationError('CONSTRAINT_VIOLATION', `the rollback of ${m.name} is unfinished: run it again`, {
      migration: m.name,
    });
  }
  return undefined;
}
