/**
 * The sync loop inside the agent: built from the `gitops` section, the agent's stores and the audit
 * feed's cursor store (the shared state), and registered as two leader jobs: `gitops-sync` (a round
 * every `gitops.intervalMs`) and `gitops-sync-requests` (every second: a round at once when a sync was
 * requested, e.g. by the push webhook on any replica). The sync writes through a change service of its
 * own whose RBAC is `gitops.rbacFile` (default `server.rbacFile`, else env `SUMMIT_RBAC_FILE`): the
 * file must bind `gitops.actor` to roles granting `config:read`, `config:list`, `config:write`
 * (`config:delete` with `prune`), `schema:read`, `schema:write`, `env:read`, `env:write`,
 * `approval:request` and `approval:apply` (`config-admin` has them). The cache repository is `<snapshotDir>/gitops-cache`.
 */
import { join } from 'node:path';
import { loadRbacFile } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { GitopsSource, GitopsWebhookOptions } from '@summit-config/server';
import type { AgentConfig } from '../config.js';
import type { AgentStores } from '../runtime.js';
import type { AgentLogger } from '../util.js';
import { createGitopsSync, type GitopsSync, type GitopsSyncEvent } from './sync.js';
import { openSyncRepository } from './sync-git.js';
import { createSyncState, type SyncCursors } from './sync-state.js';

/** The leader job running a round every `gitops.intervalMs`. */
export const GITOPS_SYNC_JOB = 'gitops-sync';
/** The leader job checking the shared sync requests every second (a round at once when one came). */
export const GITOPS_REQUESTS_JOB = 'gitops-sync-requests';

/** Options of {@link openAgentGitopsSync}. */
export interface AgentGitopsSyncOptions {
  config: AgentConfig;
  stores: AgentStores;
  /** The audit feed's cursor store (the shared state lives there). */
  cursors: SyncCursors | undefined;
  env?: NodeJS.ProcessEnv;
  onEvent?: (event: GitopsSyncEvent) => void;
  logger?: AgentLogger;
}

/** The agent's sync loop and its jobs. */
export interface AgentGitopsSync {
  readonly sync: GitopsSync;
  /** Registers `gitops-sync` and `gitops-sync-requests` with the leader job runner. */
  register(
    register: (name: string, intervalMs: number, fn: (ctx: { signal: AbortSignal }) => Promise<void>) => void,
  ): void;
}

/**
 * What the config server beside the agent gets of the sync loop: its status (`gitops` in
 * `/api/v1/status`) and, when `gitops.webhookSecretEnv` is set, the push webhook whose `onPush`
 * requests a sync (pushes to other branches are ignored by the route). Empty without a sync loop.
 */
export function gitopsServerOptions(
  opened: AgentGitopsSync | undefined,
  config: AgentConfig,
): { gitops?: GitopsSource; gitopsWebhook?: GitopsWebhookOptions } {
  const gitops = config.gitops;
  if (!opened || !gitops) return {};
  const { sync } = opened;
  return {
    gitops: () => sync.view(),
    ...(gitops.webhookSecret
      ? {
          gitopsWebhook: {
            secret: gitops.webhookSecret,
            branches: [gitops.branch],
            onPush: () => sync.requestSync(),
          },
        }
      : {}),
  };
}

/**
 * Builds the sync loop; `undefined` when the configuration has no `gitops` section. Rejects
 * `CONSTRAINT_VIOLATION` when there is no change service or cursor store (Consul alone) or no RBAC
 * file, and as `loadRbacFile` for a bad file.
 */
export async function openAgentGitopsSync(options: AgentGitopsSyncOptions): Promise<AgentGitopsSync | undefined> {
  const { config, stores, logger } = options;
  const gitops = config.gitops;
  if (!gitops) return undefined;
  const env = options.env ?? process.env;
  if (!stores.service || !options.cursors) {
    throw errors.constraint(
      'gitops: the sync loop needs PostgreSQL or the embedded store (its state and the change service live there)',
    );
  }
  const rbacFile = gitops.rbacFile ?? config.server?.rbacFile ?? (env.SUMMIT_RBAC_FILE || undefined);
  if (!rbacFile) {
    throw errors.constraint(
      `gitops: an RBAC file granting actor "${gitops.actor}" is required (gitops.rbacFile, server.rbacFile or SUMMIT_RBAC_FILE)`,
    );
  }
  const rbac = await loadRbacFile(rbacFile);
  const service = stores.service(rbac, { source: 'agent' });
  const actor = { id: gitops.actor, credential: `gitops:${gitops.actor}` };
  const sync = createGitopsSync({
    config: gitops,
    service,
    actor,
    repository: openSyncRepository({
      remote: gitops.repo,
      branch: gitops.branch,
      path: gitops.path,
      dir: join(config.snapshotDir, 'gitops-cache'),
    }),
    state: createSyncState(options.cursors),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(logger ? { logger } : {}),
  });
  return {
    sync,
    register(register) {
      register(GITOPS_SYNC_JOB, gitops.intervalMs, (ctx) => sync.round(ctx.signal));
      register(GITOPS_REQUESTS_JOB, 1000, (ctx) => sync.checkRequests(ctx.signal));
    },
  };
}
