/**
 * The gitops sync loop (docs/gitops.md "Sync loop"): a leader job of the agent that follows a branch
 * of a git remote and applies its new commits through the change service (plan.ts, apply.ts), as the
 * configured `gitops.actor`. Each round fetches the branch into a cache repository (sync-git.ts) and
 * compares its head with the last applied commit, kept in the shared state (sync-state.ts):
 *
 * - the same commit: change requests the sync opened for it and someone approved since are applied;
 *   drift is checked (refs, schemas and environments whose content differs from the tree, not
 *   counting change requests the sync opened for that commit) and, with `revert`, the tree is applied
 *   again over it;
 * - a descendant (or the first commit ever followed): plan + apply of what the new commit changed
 *   (without `revert`, a change made outside git that the commit does not touch is drift, left as it
 *   is: sync-drift.ts); the commit is recorded as applied only when every write landed or became a
 *   change request. A write refused because its head moved
 *   (a racing direct edit: `VERSION_CONFLICT`) is reported and retried next round on a fresh plan,
 *   never forced;
 * - not a descendant (a force push, a rewritten history, another branch): the state is `blocked`,
 *   reported (a warning, a `gitops` event) and nothing is applied until an operator accepts a commit
 *   (`summit-config gitops accept <commit>`): a head that is, or descends from, the accepted commit
 *   is then applied.
 *
 * Sync requests (the push webhook, `requestSync()` on any replica) raise a generation in the shared
 * state; the leader checks it every second and runs a round at once when it moved.
 */
import { type Actor, ConfigError, type ConfigService, ERROR_CODES, type ErrorCode } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { AgentLogger } from '../util.js';
import { toConfigError } from '../util.js';
import { type ApplyReport, applyTree } from './apply.js';
import { type GitopsPlan, planTree } from './plan.js';
import type { GitopsConfig } from './sync-config.js';
import { driftOf, withoutDrift } from './sync-drift.js';
import type { SyncRepository } from './sync-git.js';
import type { SyncState } from './sync-state.js';

/** The sync loop's state: `synced` (the head is applied), `applying` (a round is writing, or writes wait to be retried), `blocked` (a head that does not descend from the applied commit), `error` (the last round failed). */
export type GitopsSyncState = 'starting' | 'synced' | 'applying' | 'blocked' | 'error';

/** What `/v1/status` and the config server's `/api/v1/status` show of the sync loop. */
export interface GitopsSyncStatus {
  repo: string;
  branch: string;
  /** The layout's directory in the repository (`''`: the top). */
  path: string;
  state: GitopsSyncState;
  /** The last commit applied (shared by every agent), and when (ISO-8601 UTC). */
  appliedCommit: string | undefined;
  appliedAt: string | undefined;
  /** The branch's head at the last fetch, and when it was fetched. */
  head: string | undefined;
  headSeenAt: string | undefined;
  /** When blocked: the commit an operator must accept (`summit-config gitops accept <commit>`) and why. */
  blocked: { head: string; applied: string; reason: string } | undefined;
  /** Refs (`<scope>/<id>`), `schema:<id>` and `env:<name>` whose content differs from the tree at the applied commit. */
  drift: string[];
  /** Refs whose write was refused because their head moved (retried next round). */
  conflicts: string[];
  /** Open change requests the sync made for the applied or pending commit. */
  requests: string[];
  /** When the last round ended (ISO-8601 UTC), and its error (`CODE: message`) if it failed. */
  lastRunAt: string | undefined;
  lastError: string | undefined;
  /** Whether this process runs the loop now (the leader). */
  leading: boolean;
}

/** What the sync reports, as the agent's `gitops` event. */
export interface GitopsSyncEvent {
  kind: 'applied' | 'blocked' | 'conflict' | 'drift' | 'reverted' | 'error';
  /** The commit concerned (the head fetched). */
  commit: string | undefined;
  /** The last applied commit when the event happened. */
  applied: string | undefined;
  /** Refs concerned (conflicts, drift). */
  refs: string[];
  message: string;
}

/** Options of {@link createGitopsSync}. */
export interface GitopsSyncOptions {
  config: GitopsConfig;
  /** The change service the sync plans and writes through (its RBAC must grant `actor`). */
  service: ConfigService;
  /** The principal of `config.actor` (id and the roles the RBAC file binds). */
  actor: Actor;
  repository: SyncRepository;
  state: SyncState;
  /** Every report (the agent turns them into events and log lines). */
  onEvent?: (event: GitopsSyncEvent) => void;
  logger?: AgentLogger;
  /** The applier (default `applyTree`); a wrapper may observe or interleave, it must still call `applyTree`. */
  apply?: typeof applyTree;
}

/** The sync loop of one agent. */
export interface GitopsSync {
  /** The status now (never throws). */
  status(): GitopsSyncStatus;
  /**
   * The status, with the applied commit read from the shared state when this process does not lead
   * (a follower's own rounds never ran); rejects `BACKEND_UNAVAILABLE` when that read fails.
   */
  view(): Promise<GitopsSyncStatus>;
  /** One round (the leader job's body); rejects when the round fails (the status says why too). */
  round(signal: AbortSignal): Promise<void>;
  /** Runs a round when a sync was requested since the last check (the leader's 1 s job). */
  checkRequests(signal: AbortSignal): Promise<void>;
  /** Asks the leader (any replica may call it) to sync at once; rejects `BACKEND_UNAVAILABLE` when the shared state cannot be written. */
  requestSync(): Promise<void>;
  /** Leadership changed. */
  leadership(leading: boolean): void;
}

const short = (sha: string | undefined) => (sha ? sha.slice(0, 12) : 'none');
const APPLYING_OUTCOMES = ['proposed', 'request-open', 'request-applied'];

/** Creates the loop; nothing runs before the first `round`. */
export function createGitopsSync(options: GitopsSyncOptions): GitopsSync {
  const { config, service, actor, repository, state, logger } = options;
  if (!service || !actor || !repository || !state)
    throw errors.constraint('gitops sync options service, actor, repository and state are required');
  const apply = options.apply ?? applyTree;
  const status: GitopsSyncStatus = {
    repo: config.repo,
    branch: config.branch,
    path: config.path,
    state: 'starting',
    appliedCommit: undefined,
    appliedAt: undefined,
    head: undefined,
    headSeenAt: undefined,
    blocked: undefined,
    drift: [],
    conflicts: [],
    requests: [],
    lastRunAt: undefined,
    lastError: undefined,
    leading: false,
  };
  /** The sync-request generation last handled by this leader (undefined: read it at the next check). */
  let seenRequests: number | undefined;
  let running: Promise<void> | undefined;
  /** The commit reported as blocked last (so a blocked head is warned about once, not every round). */
  let reportedBlocked: string | undefined;

  const emit = (event: GitopsSyncEvent) => {
    const level = event.kind === 'applied' || event.kind === 'reverted' ? 'info' : 'warn';
    logger?.[level]?.({ gitops: event }, event.message);
    try {
      options.onEvent?.(event);
    } catch {
      // A listener's failure is the listener's (the agent's events isolate them).
    }
  };

  /** Plans the tree at `commit`; `GitopsTreeError` and schema failures reject (the round fails). */
  async function planAt(commit: string, signal: AbortSignal): Promise<GitopsPlan> {
    const source = await repository.read(commit, signal);
    const plan = await planTree({ service, actor, source, prune: config.prune });
    if (!plan.valid) {
      const bad = plan.refs.filter((r) => r.schema && !r.schema.valid).map((r) => r.file ?? r.ref);
      throw errors.constraint(
        `commit ${short(commit)}: documents fail their schema (${bad.join(', ')}); nothing applied`,
      );
    }
    return plan;
  }

  /** Applies `plan`; true when every write landed or became a change request. */
  async function applyPlan(plan: GitopsPlan, signal: AbortSignal): Promise<{ done: boolean; report: ApplyReport }> {
    const report = await apply({ service, actor, plan, signal });
    const conflicts = report.results.filter((r) => r.outcome === 'conflict');
    const failed = report.results.filter((r) => r.outcome === 'failed');
    status.conflicts = conflicts.map((r) => r.name);
    status.requests = report.results
      .filter((r) => APPLYING_OUTCOMES.includes(r.outcome) && r.requestId)
      .map((r) => `${r.name}#${r.requestId}`);
    if (conflicts.length > 0) {
      emit({
        kind: 'conflict',
        commit: plan.commit,
        applied: status.appliedCommit,
        refs: status.conflicts,
        message: `gitops: commit ${short(plan.commit)}: ${conflicts.length} write(s) refused because the head moved (${status.conflicts.join(', ')}); retried next round on a fresh plan`,
      });
    }
    if (failed.length > 0) {
      const first = failed[0]?.error;
      const code = (ERROR_CODES as readonly string[]).includes(first?.code ?? '')
        ? (first?.code as ErrorCode)
        : 'CONSTRAINT_VIOLATION';
      throw new ConfigError(
        code,
        `commit ${short(plan.commit)}: ${failed.length} write(s) failed (${failed.map((r) => r.name).join(', ')}): ${first?.message}`,
      );
    }
    return { done: conflicts.length === 0, report };
  }

  /**
   * Applies the tree at `head`. With `base` (the applied commit it descends from) and without
   * `revert`, differences `head` did not bring are drift, left as they are (sync-drift.ts).
   */
  async function applyCommit(
    head: string,
    base: string | undefined,
    acceptedGeneration: number,
    signal: AbortSignal,
  ): Promise<void> {
    status.state = 'applying';
    let plan = await planAt(head, signal);
    let drift: string[] = [];
    if (base !== undefined && !config.revert) {
      ({ plan, drift } = withoutDrift(plan, (await repository.read(base, signal)).tree));
    }
    const { done, report } = await applyPlan(plan, signal);
    if (!done) return;
    await state.markApplied(head, acceptedGeneration);
    status.appliedCommit = head;
    status.appliedAt = new Date().toISOString();
    status.blocked = undefined;
    status.drift = drift;
    status.state = 'synced';
    reportedBlocked = undefined;
    emit({
      kind: 'applied',
      commit: head,
      applied: head,
      refs: report.results.filter((r) => r.outcome !== 'unchanged').map((r) => r.name),
      message: `gitops: commit ${short(head)} of ${config.branch} applied (${report.written} write(s), ${status.requests.length} change request(s) open)`,
    });
    if (drift.length > 0) {
      emit({
        kind: 'drift',
        commit: head,
        applied: head,
        refs: drift,
        message: `gitops: ${drift.length} item(s) changed outside git differ from commit ${short(head)}, which does not change them (${drift.join(', ')}): left as they are`,
      });
    }
  }

  async function checkDrift(head: string, signal: AbortSignal): Promise<void> {
    let plan = await planAt(head, signal);
    // Change requests the sync opened for this commit and someone approved since: applied now.
    const approved = plan.refs.filter((r) => r.openRequest?.status === 'approved');
    if (approved.length > 0) {
      const only = { ...plan, environments: [], schemas: [], refs: approved };
      const { report } = await applyPlan(only, signal);
      emit({
        kind: 'applied',
        commit: head,
        applied: head,
        refs: report.results.filter((r) => r.outcome === 'request-applied').map((r) => r.name),
        message: `gitops: ${approved.length} approved change request(s) of commit ${short(head)} applied`,
      });
      plan = await planAt(head, signal);
    }
    const drift = driftOf(plan);
    status.requests = plan.refs.filter((r) => r.openRequest).map((r) => `${r.ref}#${r.openRequest?.id}`);
    status.conflicts = [];
    if (drift.length === 0) {
      status.drift = [];
      status.state = 'synced';
      return;
    }
    const known = new Set(status.drift);
    if (drift.some((d) => !known.has(d))) {
      emit({
        kind: 'drift',
        commit: head,
        applied: head,
        refs: drift,
        message: `gitops: ${drift.length} item(s) differ from commit ${short(head)} (${drift.join(', ')})${config.revert ? ': reverting' : ''}`,
      });
    }
    status.drift = drift;
    status.state = 'synced';
    if (!config.revert) return;
    status.state = 'applying';
    const { done } = await applyPlan(plan, signal);
    if (!done) return;
    status.drift = [];
    status.state = 'synced';
    emit({
      kind: 'reverted',
      commit: head,
      applied: head,
      refs: drift,
      message: `gitops: ${drift.length} item(s) set back to commit ${short(head)} (${drift.join(', ')})`,
    });
  }

  async function doRound(signal: AbortSignal): Promise<void> {
    try {
      const head = await repository.fetch(signal);
      status.head = head;
      status.headSeenAt = new Date().toISOString();
      const [applied, accepted] = await Promise.all([state.applied(), state.accepted()]);
      status.appliedCommit = applied?.commit;
      status.appliedAt = applied?.at;
      const acceptedGeneration = accepted?.generation ?? 0;
      if (!applied) {
        await applyCommit(head, undefined, acceptedGeneration, signal);
      } else {
        const ancestry = await repository.ancestry(applied.commit, head, signal);
        if (ancestry === 'same') {
          status.blocked = undefined;
          await checkDrift(head, signal);
        } else if (ancestry === 'descends') {
          await applyCommit(head, applied.commit, acceptedGeneration, signal);
        } else {
          // Not a descendant: only an accepted commit (accepted after the last apply) lets it through.
          const open = accepted && accepted.generation > applied.acceptedGeneration ? accepted : undefined;
          const through =
            open !== undefined &&
            (open.commit === head || (await repository.ancestry(open.commit, head, signal)) === 'descends');
          if (through) {
            logger?.info?.({ head, accepted: open.commit }, `gitops: applying ${short(head)}, accepted by an operator`);
            await applyCommit(head, undefined, acceptedGeneration, signal);
          } else {
            const reason =
              ancestry === 'unknown'
                ? `the applied commit ${short(applied.commit)} is not in the branch's history any more (force push or another branch)`
                : `${short(head)} does not descend from the applied commit ${short(applied.commit)} (force push or rewritten history)`;
            status.state = 'blocked';
            status.blocked = { head, applied: applied.commit, reason };
            if (reportedBlocked !== head) {
              reportedBlocked = head;
              emit({
                kind: 'blocked',
                commit: head,
                applied: applied.commit,
                refs: [],
                message: `gitops: branch ${config.branch} blocked: ${reason}; nothing applied until an operator runs summit-config gitops accept ${head}`,
              });
            }
          }
        }
      }
      status.lastError = undefined;
    } catch (error) {
      if (signal.aborted) throw error;
      const e = toConfigError(error);
      status.state = 'error';
      status.lastError = `${e.code}: ${e.message}`;
      emit({
        kind: 'error',
        commit: status.head,
        applied: status.appliedCommit,
        refs: [],
        message: `gitops: sync failed: ${e.message}`,
      });
      throw e;
    } finally {
      status.lastRunAt = new Date().toISOString();
    }
  }

  return {
    status: () => ({
      ...status,
      drift: [...status.drift],
      conflicts: [...status.conflicts],
      requests: [...status.requests],
    }),
    async view() {
      if (status.leading) return this.status();
      const applied = await state.applied();
      return { ...this.status(), appliedCommit: applied?.commit, appliedAt: applied?.at };
    },
    round(signal) {
      // One round at a time: the interval job and a requested sync share it.
      running ??= doRound(signal).finally(() => {
        running = undefined;
      });
      return running;
    },
    async checkRequests(signal) {
      const generation = await state.requests();
      if (seenRequests === undefined || generation <= seenRequests) {
        seenRequests ??= generation;
        return;
      }
      seenRequests = generation;
      logger?.info?.({ generation }, 'gitops: sync requested');
      await this.round(signal);
    },
    requestSync: async () => {
      await state.requestSync();
    },
    leadership(leading) {
      status.leading = leading;
      if (!leading) seenRequests = undefined;
    },
  };
}
