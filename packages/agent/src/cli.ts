#!/usr/bin/env node
/**
 * `summit-config`: the CLI (operator commands and `agent`, the daemon). The commands live in
 * `cli/*.ts`; this entry runs one command line and exits with its code (see `--help` for the table).
 */
import { runCli } from './cli/program.js';

export { createJsonLogger } from './cli/agent-command.js';

// A reader that went away (`summit-config --help | head -1`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

const code = await runCli(process.argv.slice(2));
// Let buffered output reach its destination before exiting (pipes may be asynchronous).
await Promise.all(
  [process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))),
);
process.exit(code);
