/**
 * The `summit-config` program: every command group registered on one commander program, and
 * `runCli(argv, io)`, which runs one command line and resolves with its exit code. `cli.ts` calls it
 * with the process's argv and streams; tests call it in-process with their own streams and env.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { registerAgentCommand } from './agent-command.js';
import { registerApprovalCommands } from './approval-commands.js';
import { registerAuditCommands } from './audit-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { type CliState, defaultOpen } from './command.js';
import { registerConfigCommands } from './config-commands.js';
import { registerDriftCommands } from './drift-commands.js';
import { registerEnvCommands } from './env-commands.js';
import { EXIT, EXIT_CODES_HELP, exitCodeOf } from './exit-codes.js';
import { registerGitopsCommands } from './gitops-commands.js';
import { registerGitopsSyncCommands } from './gitops-sync-commands.js';
import type { CliIo } from './io.js';
import { registerLoginCommands } from './login-commands.js';
import { registerMigrateCommands } from './migrate-commands.js';
import { registerNotificationCommands } from './notification-commands.js';
import { registerReportCommand } from './report-command.js';
import { registerSchemaCommands } from './schema-commands.js';
import { registerSecretCommands } from './secret-commands.js';
import { registerServerCommand } from './server-command.js';
import { registerTemplateCommands } from './template-commands.js';
import { registerTokenCommands } from './token-commands.js';
import { registerTrustCommands } from './trust-commands.js';

const ENVIRONMENT_HELP = `
Stores (the same as the agent's): --config <agent.yaml> (env SUMMIT_AGENT_CONFIG), and
  CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, SUMMIT_CONSUL_PREFIX    Consul (primary)
  DATABASE_URL, SUMMIT_PG_SCHEMA                               PostgreSQL (record, governance)
  SUMMIT_DATA_DIR                                              embedded PGlite directory (the default
                                                               when neither Consul nor PostgreSQL is set)
Who: the OS user running the command (its uid is the credential); --actor <id> (env SUMMIT_ACTOR)
  acts under another id, only with permission actor:impersonate. Roles from --rbac <file> (env
  SUMMIT_RBAC_FILE). Without a file, the embedded default makes the local OS user config-admin and
  secrets-admin; with Consul or PostgreSQL a file is required.
Secrets: the local provider (AES-256-GCM) with its key in SUMMIT_MASTER_KEY or SUMMIT_MASTER_KEY_FILE.
Refs are <scope>/<id>: global/database, app:billing/database.

${EXIT_CODES_HELP}`;

/** This package's version (package.json sits two levels above both src/cli and dist/cli). */
const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const SHORT_EXIT_HELP =
  '\nExit codes: 0 ok, 1 failure, 2 bad input, 3 access denied / approval required, 4 not found, 5 store unavailable (see summit-config --help).';

/** Builds the program for one run (commander keeps parsed state on its commands). */
export function createProgram(state: CliState): Command {
  const program = new Command('summit-config')
    .description('Summit Config: centralized, versioned, audited configuration')
    .version(VERSION, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .showHelpAfterError(state.jsonErrors ? false : '(add --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void state.io.stdout.write(text),
      writeErr: (text) => void state.io.stderr.write(text),
      outputError: (text, write) => {
        if (state.jsonErrors) {
          const message = text.replace(/^error: /, '').trim();
          state.io.stderr.write(`${JSON.stringify({ error: { code: 'USAGE', message } })}\n`);
        } else write(text);
      },
    })
    .addHelpText('after', ENVIRONMENT_HELP);

  registerConfigCommands(program, state);
  registerApprovalCommands(program, state);
  registerSchemaCommands(program, state);
  registerAuditCommands(program, state);
  registerReportCommand(program, state);
  registerDriftCommands(program, state);
  registerSecretCommands(program, state);
  registerBackupCommands(program, state);
  registerEnvCommands(program, state);

  registerMigrateCommands(program, state);
  registerGitopsSyncCommands(registerGitopsCommands(program, state), state);
  registerTemplateCommands(program, state);
  registerTrustCommands(program, state);
  registerTokenCommands(program, state);
  registerNotificationCommands(program, state);
  registerLoginCommands(program, state);

  registerAgentCommand(program, state.io.env);
  registerServerCommand(program, state.io.env);

  const addExitHelp = (command: Command) => {
    for (const sub of command.commands) {
      sub.addHelpText('after', SHORT_EXIT_HELP);
      addExitHelp(sub);
    }
  };
  addExitHelp(program);
  return program;
}

/**
 * Runs one command line (`argv` without the node and script paths) and resolves with the exit
 * code. Never throws and never exits the process (except `agent`, which runs until it is stopped).
 */
export async function runCli(argv: readonly string[], io: CliIo = {}): Promise<number> {
  const state: CliState = {
    io: {
      ...io,
      stdout: io.stdout ?? process.stdout,
      stderr: io.stderr ?? process.stderr,
      stdin: io.stdin ?? process.stdin,
      env: io.env ?? process.env,
    },
    exitCode: 0,
    jsonErrors: argv.includes('--json'),
    open: (options) => defaultOpen(state.io)(options),
  };
  const program = createProgram(state);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return state.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : exitCodeOf('USAGE');
    state.io.stderr.write(`error UNEXPECTED: ${(error as Error)?.stack ?? String(error)}\n`);
    return EXIT.failure;
  }
}
