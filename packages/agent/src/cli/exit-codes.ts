/**
 * The CLI's exit codes: one table for every command, derived from the error's `code`.
 *
 * | exit | meaning                   | error codes                                                                         |
 * |------|---------------------------|-------------------------------------------------------------------------------------|
 * | 0    | success                   |                                                                                     |
 * | 1    | any other failure         | VERSION_CONFLICT, CONFLICTING_CHANGE, CHECKSUM_MISMATCH, SECRET_PROVIDER, ...       |
 * | 2    | usage or bad input        | USAGE, CONSTRAINT_VIOLATION, INVALID_CONFIG_REF, SCHEMA_VALIDATION, MISSING_REQUIRED, CIRCULAR_DEPENDENCY, DOCUMENT_TOO_LARGE, PLAN_REFUSED |
 * | 3    | not allowed               | ACCESS_DENIED, APPROVAL_REQUIRED, INSUFFICIENT_APPROVERS                            |
 * | 4    | not found                 | NOT_FOUND, ENVIRONMENT_NOT_FOUND                                                    |
 * | 5    | a store is unreachable    | BACKEND_UNAVAILABLE (also: the embedded directory is held by another process), TIMEOUT |
 *
 * Errors reach this table typed: a `ConfigError` (its `code`) or a `CliError` (the CLI's own codes);
 * anything else is `UNEXPECTED`, exit 1. Command bodies throw; the frame (`command.ts`) prints the
 * error and takes its exit code from here.
 */
import { type ErrorCode, isConfigError } from '@summit-config/core';
import { messageOf } from '@summit-config/core/internal';

/**
 * The CLI's own codes: `USAGE` for a command line commander refused (unknown option, missing
 * argument), `PLAN_REFUSED` for a migration plan that would write nothing.
 */
export type CliOwnCode = 'USAGE' | 'PLAN_REFUSED';
export type CliErrorCode = ErrorCode | CliOwnCode | 'UNEXPECTED';

/** A failure the CLI reports in its own words (not the library's): printed and mapped like a ConfigError. */
export class CliError extends Error {
  constructor(
    readonly code: CliOwnCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  denied: 3,
  notFound: 4,
  unavailable: 5,
} as const;

const TABLE: Partial<Record<CliErrorCode, number>> = {
  USAGE: EXIT.usage,
  CONSTRAINT_VIOLATION: EXIT.usage,
  INVALID_CONFIG_REF: EXIT.usage,
  SCHEMA_VALIDATION: EXIT.usage,
  MISSING_REQUIRED: EXIT.usage,
  CIRCULAR_DEPENDENCY: EXIT.usage,
  DOCUMENT_TOO_LARGE: EXIT.usage,
  PLAN_REFUSED: EXIT.usage,
  ACCESS_DENIED: EXIT.denied,
  APPROVAL_REQUIRED: EXIT.denied,
  INSUFFICIENT_APPROVERS: EXIT.denied,
  NOT_FOUND: EXIT.notFound,
  ENVIRONMENT_NOT_FOUND: EXIT.notFound,
  BACKEND_UNAVAILABLE: EXIT.unavailable,
  TIMEOUT: EXIT.unavailable,
};

/** The exit code of an error code (1 for codes not in the table). */
export function exitCodeOf(code: string): number {
  return TABLE[code as CliErrorCode] ?? EXIT.failure;
}

/** The exit code of a thrown value. */
export function exitCodeFor(error: unknown): number {
  return isConfigError(error) || error instanceof CliError ? exitCodeOf(error.code) : EXIT.failure;
}

/** The `error` of a `--json` failure: a ConfigError's own JSON, a CliError's code and message, or `UNEXPECTED`. */
export function errorPayload(error: unknown): Record<string, unknown> & { code: string; message: string } {
  if (isConfigError(error)) return error.toJSON() as Record<string, unknown> & { code: string; message: string };
  if (error instanceof CliError) return { code: error.code, message: error.message };
  return { code: 'UNEXPECTED', message: messageOf(error) };
}

/** The exit code table, as shown at the end of `summit-config --help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  any other failure (VERSION_CONFLICT, CONFLICTING_CHANGE, CHECKSUM_MISMATCH, SECRET_PROVIDER, ...)
  2  usage or bad input (USAGE, CONSTRAINT_VIOLATION, INVALID_CONFIG_REF, SCHEMA_VALIDATION,
     MISSING_REQUIRED, CIRCULAR_DEPENDENCY, DOCUMENT_TOO_LARGE, PLAN_REFUSED)
  3  not allowed (ACCESS_DENIED, APPROVAL_REQUIRED, INSUFFICIENT_APPROVERS)
  4  not found (NOT_FOUND, ENVIRONMENT_NOT_FOUND)
  5  a store is unreachable or busy (BACKEND_UNAVAILABLE, TIMEOUT)
On failure the error code and message go to stderr: "error CODE: message", or with --json one
JSON object {"error":{"code":"...","message":"...",...}}.`;
