/**
 * `runAgent()`: loads the configuration, starts an agent and stops it on SIGTERM/SIGINT within a
 * shutdown budget. The CLI's `agent` command calls it.
 */
import { Agent } from './agent.js';
import { type AgentConfig, loadAgentConfig } from './config.js';
import { type AgentLogger, toConfigError } from './util.js';

export interface RunAgentOptions {
  /** YAML configuration file. Default: none (defaults and environment variables only). */
  configFile?: string;
  /** An already loaded configuration (instead of `configFile`). */
  config?: AgentConfig;
  /** Environment variables. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger?: AgentLogger;
  /** Close the agent on SIGTERM and SIGINT. Default true. */
  handleSignals?: boolean;
  /** Budget of a signal-initiated shutdown before `done` resolves anyway (`forced: true`), ms. Default 1800. */
  shutdownTimeoutMs?: number;
}

export interface AgentExit {
  /** 0 after a clean shutdown. */
  code: number;
  signal: string | undefined;
  /** True when the shutdown budget ran out before the agent had closed. */
  forced: boolean;
  durationMs: number;
}

export interface RunningAgent {
  agent: Agent;
  /** Resolves once the agent stopped (after a signal or `stop()`), with the exit code to use. */
  done: Promise<AgentExit>;
  /** Stops the agent as a signal would. */
  stop(reason?: string): Promise<AgentExit>;
}

/**
 * Loads the configuration, starts an agent, and stops it on SIGTERM/SIGINT within the shutdown
 * budget. Rejects (after cleaning up) when the configuration is invalid or the agent cannot start.
 */
export async function runAgent(options: RunAgentOptions = {}): Promise<RunningAgent> {
  const config = options.config ?? (await loadAgentConfig(options.configFile, options.env ?? process.env));
  const agent = new Agent({ config, logger: options.logger });
  try {
    await agent.start();
  } catch (error) {
    await agent.close().catch(() => {});
    throw toConfigError(error);
  }
  const budget = options.shutdownTimeoutMs ?? 1800;
  let resolveDone: (exit: AgentExit) => void = () => {};
  const done = new Promise<AgentExit>((resolve) => {
    resolveDone = resolve;
  });
  let stopping: Promise<AgentExit> | undefined;
  const stop = (reason?: string): Promise<AgentExit> => {
    stopping ??= (async () => {
      const t0 = performance.now();
      options.logger?.info?.({ signal: reason }, 'shutting down');
      let forced = false;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        agent.close().catch((error: unknown) => {
          options.logger?.error?.({ err: toConfigError(error).toJSON() }, 'shutdown failed');
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            forced = true;
            resolve();
          }, budget);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      removeHandlers();
      const exit: AgentExit = { code: 0, signal: reason, forced, durationMs: performance.now() - t0 };
      resolveDone(exit);
      return exit;
    })();
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => void stop(signal);
  const removeHandlers = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  if (options.handleSignals ?? true) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  return { agent, done, stop };
}
