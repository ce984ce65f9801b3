/**
 * `summit-config server [--config file.yaml]`: the config server alone (no served clients), over
 * the stores of the agent configuration, with its `server` section (defaults when absent). Flags
 * override the section: `--host`, `--port`, `--tls-cert`, `--tls-key`, `--allow-insecure-public`.
 * Log lines are JSON on stderr; the exit codes are the agent's (2 for a bad configuration, such as a
 * public bind without TLS; 5 for an unreachable store).
 */
import { isConfigError } from '@summit-config/core';
import { type Command, Option } from 'commander';
import { loadAgentConfig } from '../config.js';
import { serverSection } from '../config-server.js';
import { osPrincipal } from '../os-user.js';
import { openRuntime } from '../runtime.js';
import { serveConfigServer } from '../serve.js';
import { createJsonLogger } from './agent-command.js';
import { exitCodeFor } from './exit-codes.js';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

interface ServerOptions {
  config?: string;
  host?: string;
  port?: string;
  tlsCert?: string;
  tlsKey?: string;
  allowInsecurePublic?: boolean;
  logLevel: (typeof LEVELS)[number];
}

export function registerServerCommand(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command('server')
    .description('run the config server: the authenticated HTTP API (/api/v1, OpenAPI at /api/openapi.json)')
    .option(
      '-c, --config <file>',
      'agent configuration YAML: the stores and the server section',
      env.SUMMIT_AGENT_CONFIG,
    )
    .option('--host <host>', 'interface to bind (default 127.0.0.1; env SUMMIT_SERVER_HOST)')
    .option('--port <port>', 'port (default 7080; 0 picks one; env SUMMIT_SERVER_PORT)')
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS (env SUMMIT_SERVER_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key, mode 0600 (env SUMMIT_SERVER_TLS_KEY)')
    .option('--allow-insecure-public', 'bind a non-loopback address without TLS (behind a TLS proxy)')
    .addOption(
      new Option('--log-level <level>', 'lowest level logged').choices(LEVELS).default(env.SUMMIT_LOG_LEVEL ?? 'info'),
    )
    .action(async (opts: ServerOptions) => {
      const logger = createJsonLogger(opts.logLevel);
      const overrides: NodeJS.ProcessEnv = { ...env };
      if (opts.host !== undefined) overrides.SUMMIT_SERVER_HOST = opts.host;
      if (opts.port !== undefined) overrides.SUMMIT_SERVER_PORT = opts.port;
      if (opts.tlsCert !== undefined) overrides.SUMMIT_SERVER_TLS_CERT = opts.tlsCert;
      if (opts.tlsKey !== undefined) overrides.SUMMIT_SERVER_TLS_KEY = opts.tlsKey;
      if (opts.allowInsecurePublic) overrides.SUMMIT_SERVER_ALLOW_INSECURE_PUBLIC = 'true';
      let close: (() => Promise<void>) | undefined;
      try {
        const loaded = await loadAgentConfig(opts.config, overrides);
        // The flags are read as the variables they stand for, over the file's section (or its defaults).
        const config = {
          ...loaded,
          server: loaded.server ?? serverSection(undefined, overrides, loaded.stores.embedded, true),
        };
        const runtime = await openRuntime(config, { role: 'server', logger });
        try {
          const serving = await serveConfigServer({
            runtime,
            config,
            server: config.server as NonNullable<typeof config.server>,
            owner: osPrincipal({ env }).id,
            logger,
          });
          close = async () => {
            await serving.close();
            await runtime.close();
          };
        } catch (error) {
          await runtime.close();
          throw error;
        }
      } catch (error) {
        const code = isConfigError(error) ? error.code : 'UNEXPECTED';
        logger.error?.(
          { code, err: isConfigError(error) ? error.toJSON() : String(error) },
          `server did not start: ${(error as Error).message}`,
        );
        process.exit(exitCodeFor(error));
      }
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      logger.info?.({ signal }, 'shutting down');
      await Promise.race([close?.(), new Promise((r) => setTimeout(r, 3000).unref())]);
      logger.info?.({ signal }, 'server stopped');
      process.exit(0);
    });
}
