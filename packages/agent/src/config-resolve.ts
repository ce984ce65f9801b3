/**
 * The `secrets` field of an `apps` entry (`refs` or `resolve`) and the rules a resolving app's
 * neighbours must follow, checked when the configuration loads: its values are served only with a
 * token or over the Unix socket, and its rendered files are private to the agent's user.
 */
import { fail, show } from './config-fields.js';
import type { AgentConfig, AppSecretsMode } from './config-types.js';

/** `apps[i].secrets`: `refs` (the default) or `resolve`. Throws `CONSTRAINT_VIOLATION` naming `path`. */
export function secretsMode(value: unknown, path: string): AppSecretsMode {
  if (value === undefined) return 'refs';
  if (value === 'refs' || value === 'resolve') return value;
  throw fail(path, `must be refs or resolve, got ${show(value)}`);
}

/**
 * Every app with `secrets: resolve` needs a secret provider (`secrets.providers`, or the implicit
 * local one of `SUMMIT_MASTER_KEY`), `http.token` or `http.socket` (unauthenticated TCP would hand
 * its secrets to any local process), and rendered files that neither group nor others can read.
 * Throws `CONSTRAINT_VIOLATION` naming the field to change.
 */
export function checkResolvingApps(config: AgentConfig, raw: ReadonlyArray<{ app: string; path: string }>): void {
  const { http } = config;
  for (const app of config.apps) {
    if (app.secrets !== 'resolve') continue;
    const path = raw.find((r) => r.app === app.app)?.path ?? `apps (${app.app})`;
    if (config.secrets.providers.length === 0) {
      throw fail(
        `${path}.secrets`,
        'is resolve, but no secret provider is configured: add secrets.providers, or set SUMMIT_MASTER_KEY (or SUMMIT_MASTER_KEY_FILE) for the local provider',
      );
    }
    if (http.token === undefined && http.socket === undefined) {
      throw fail(
        `${path}.secrets`,
        'is resolve, which needs http.token (SUMMIT_AGENT_TOKEN) or http.socket: the resolved secrets are never served over unauthenticated TCP',
      );
    }
    config.render.forEach((r, i) => {
      if (r.app === app.app && (r.mode & 0o077) !== 0) {
        throw fail(
          `render[${i}].mode`,
          `is 0${r.mode.toString(8)}, but app "${app.app}" resolves secrets: its files must be 0600 (no group or other bits)`,
        );
      }
    });
  }
}
