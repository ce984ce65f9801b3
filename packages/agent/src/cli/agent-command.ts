/**
 * `summit-config agent [--config file.yaml]`: the daemon. Log lines are JSON, one per line, on
 * stderr. The process exits when the agent stops (0 after a clean shutdown); when it cannot start,
 * with the code of the CLI's exit table for its error (`exit-codes.ts`: 2 for a bad configuration,
 * 4 for a missing file, 5 for an unreachable store, 1 otherwise).
 */
import { isConfigError } from '@summit-config/core';
import { type Command, Option } from 'commander';
import { runAgent } from '../run-agent.js';
import type { AgentLogger } from '../util.js';
import { exitCodeFor } from './exit-codes.js';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** A logger writing one JSON object per line to stderr, from `min` up. */
export function createJsonLogger(min: Level = 'info', out: NodeJS.WritableStream = process.stderr): AgentLogger {
  const threshold = LEVELS.indexOf(min);
  const line = (level: Level) => (obj: object, msg?: string) => {
    if (LEVELS.indexOf(level) < threshold) return;
    let text: string;
    try {
      text = JSON.stringify({ level, time: new Date().toISOString(), msg, ...obj });
    } catch {
      text = JSON.stringify({ level, time: new Date().toISOString(), msg, unserializable: true });
    }
    out.write(`${text}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

export function registerAgentCommand(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('agent')
    .description('run the sidecar agent: serves resolved config over HTTP, renders files, leads cluster jobs')
    .option('-c, --config <file>', 'YAML configuration file (env SUMMIT_AGENT_CONFIG)', env.SUMMIT_AGENT_CONFIG)
    .addOption(
      new Option('--log-level <level>', 'lowest level logged').choices(LEVELS).default(env.SUMMIT_LOG_LEVEL ?? 'info'),
    )
    .action(async (opts: { config?: string; logLevel: Level }) => {
      const logger = createJsonLogger(LEVELS.includes(opts.logLevel) ? opts.logLevel : 'info');
      let running: Awaited<ReturnType<typeof runAgent>>;
      try {
        running = await runAgent({ configFile: opts.config, logger });
      } catch (error) {
        const code = isConfigError(error) ? error.code : 'UNEXPECTED';
        logger.error?.(
          { code, err: isConfigError(error) ? error.toJSON() : String(error) },
          `agent did not start: ${(error as Error).message}`,
        );
        process.exit(exitCodeFor(error));
      }
      const exit = await running.done;
      logger.info?.(
        { code: exit.code, signal: exit.signal, forced: exit.forced, durationMs: Math.round(exit.durationMs) },
        'agent stopped',
      );
      process.exit(exit.code);
    });
}
