import { ConfigError, type ErrorCode, type ErrorContext, type ValidationIssue } from '../errors/config-error.js';

/** Context a migration or template error may carry, beside the usual ref / version / backend. */
export interface MigrationErrorContext extends ErrorContext {
  /** The migration (or template) concerned. */
  migration?: string;
  /** The file it was loaded from. */
  file?: string;
  /** JSON pointer into the definition that is wrong (e.g. `/operations/2/op`). */
  pointer?: string;
  /** Schema issues (`SCHEMA_VALIDATION`), each with a pointer into the validated value. */
  issues?: readonly ValidationIssue[];
}

/**
 * A failure of the migration runner or of a migration / template definition. The `code` is one of
 * the common codes (`CONSTRAINT_VIOLATION` for a malformed definition, `CIRCULAR_DEPENDENCY`,
 * `NOT_FOUND` for a missing dependency, `CHECKSUM_MISMATCH` for a migration changed since it ran,
 * `SCHEMA_VALIDATION` for a plan that breaks a schema, `CONFLICTING_CHANGE` for a rollback over
 * later changes, ...); the extra fields say where.
 */
export class MigrationError<C extends ErrorCode = ErrorCode> extends ConfigError<C> {
  readonly migration: string | undefined;
  readonly file: string | undefined;
  readonly pointer: string | undefined;
  readonly issues: readonly ValidationIssue[];

  constructor(code: C, message: string, context: MigrationErrorContext = {}) {
    super(code, message, context);
    this.name = 'MigrationError';
    this.migration = context.migration;
    this.file = context.file;
    this.pointer = context.pointer;
    this.issues = context.issues ?? [];
  }

  override toJSON(): Record<string, unknown> {
    const out = super.toJSON();
    if (this.migration !== undefined) out.migration = this.migration;
    if (this.file !== undefined) out.file = this.file;
    if (this.pointer !== undefined) out.pointer = this.pointer;
    if (this.issues.length > 0) out.issues = this.issues;
    return out;
  }
}

/** A malformed definition: `CONSTRAINT_VIOLATION` naming the pointer (and file) at fault. */
export function definitionError(
  message: string,
  context: MigrationErrorContext & { pointer: string },
): MigrationError<'CONSTRAINT_VIOLATION'> {
  const where = `${context.file ? `${context.file}: ` : ''}${context.migration ? `${context.migration}: ` : ''}`;
  const at = context.pointer === '' ? '' : `${context.pointer}: `;
  return new MigrationError('CONSTRAINT_VIOLATION', `${where}${at}${message}`, context);
}

/** Where a definition is being read: its file and, once known, its name. */
export interface DefinitionWhere {
  file: string | undefined;
  migration: string | undefined;
}

/** {@link definitionError} at `pointer` of the definition `where` names. */
export function failAt(
  message: string,
  pointer: string,
  where: DefinitionWhere,
): MigrationError<'CONSTRAINT_VIOLATION'> {
  return definitionError(message, { pointer, file: where.file, migration: where.migration });
}
