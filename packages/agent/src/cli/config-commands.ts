/**
 * Config documents: get, set, delete, list, diff, rollback, versions, explain, watch, registered in
 * this order (the order of `summit-config --help`) from their rooms: reading
 * (`config-read-commands.ts`), writing (`config-write-commands.ts`) and `watch-command.ts`.
 */
import type { Command } from 'commander';
import type { CliState } from './command.js';
import { registerDiff, registerExplain, registerGet, registerList, registerVersions } from './config-read-commands.js';
import { registerDelete, registerRollback, registerSet } from './config-write-commands.js';
import { registerWatch } from './watch-command.js';

export function registerConfigCommands(program: Command, state: CliState): void {
  for (const register of [
    registerGet,
    registerSet,
    registerDelete,
    registerList,
    registerDiff,
    registerRollback,
    registerVersions,
    registerExplain,
    registerWatch,
  ]) {
    register(program, state);
  }
}
