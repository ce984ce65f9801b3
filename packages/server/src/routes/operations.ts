/**
 * Operations: the store's tier status and the latest drift report. Both need `config:audit:read`
 * (the operational record of the configs, like the audit trail), checked with the server's `rbac`.
 * The drift report comes from whoever runs drift detection (the agent's leader): the server takes a
 * function and keeps to a structural type of the report, so it does not depend on the agent.
 */
import type { ConfigStore } from '@summit-config/core';
import { parseRef } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problem } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf } from '../request-context.js';
import { errorResponses, jsonObject, security } from '../schemas.js';
import type { ServerContext } from './context.js';

/** One finding of a drift run (the agent's `DriftFinding`, structurally). */
export interface DriftFindingView {
  readonly kind: string;
  /** `<scope>/<id>` */
  readonly ref: string;
  readonly message: string;
  readonly source: string;
  readonly tier?: string;
  readonly version?: number;
  readonly heads?: Readonly<Record<string, { version: number; checksum: string } | null>>;
  readonly instance?: string;
  readonly environment?: string;
  readonly ackVersion?: number;
  readonly headVersion?: number;
  readonly reason?: string;
  readonly remediated?: boolean;
  readonly remediation?: string;
}

/** A drift run's report (the agent's `DriftReport` from `detectDrift`, structurally). */
export interface DriftReportView {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly examined: number;
  readonly findings: readonly DriftFindingView[];
  readonly remediated: number;
  readonly reconcile?: object;
}

/** `ConfigServerOptions.drift`: the latest drift report, or undefined before the first run. */
export type DriftSource = () => DriftReportView | undefined | Promise<DriftReportView | undefined>;

/** Who leads the agents, as `ConfigServerOptions.leader` reports it. */
export interface LeaderView {
  /** The leader's name (the agent's instance, the lock's holder). */
  readonly holder: string;
  /** The fencing token of its term (Consul's LockIndex), when known. */
  readonly fencingToken?: number;
}

/**
 * `ConfigServerOptions.leader`: who leads now, or undefined when nobody does. A failure to find out
 * rejects (the status then says so in `leaderError`, never "no leader").
 */
export type LeaderSource = () => LeaderView | undefined | Promise<LeaderView | undefined>;

/** The GitOps sync loop's status (the agent's `GitopsSyncStatus`, structurally; docs/gitops.md). */
export interface GitopsStatusView {
  readonly repo: string;
  readonly branch: string;
  readonly path: string;
  /** `starting`, `synced`, `applying`, `blocked` or `error`. */
  readonly state: string;
  readonly appliedCommit: string | undefined;
  /** ISO-8601 UTC. */
  readonly appliedAt: string | undefined;
  readonly head: string | undefined;
  readonly headSeenAt: string | undefined;
  readonly blocked: { readonly head: string; readonly applied: string; readonly reason: string } | undefined;
  readonly drift: readonly string[];
  readonly conflicts: readonly string[];
  readonly requests: readonly string[];
  readonly lastRunAt: string | undefined;
  readonly lastError: string | undefined;
  /** Whether the process that answers runs the loop (the agents' leader). */
  readonly leading: boolean;
}

/** `ConfigServerOptions.gitops`: the sync loop's status, or undefined when there is none. A rejection is served as `gitopsError`. */
export type GitopsSource = () => GitopsStatusView | undefined | Promise<GitopsStatusView | undefined>;

const gitopsSchema = {
  type: ['object', 'null'],
  properties: {
    repo: { type: 'string' },
    branch: { type: 'string' },
    path: { type: 'string' },
    state: { type: 'string' },
    appliedCommit: { type: ['string', 'null'] },
    appliedAt: { type: ['string', 'null'] },
    head: { type: ['string', 'null'] },
    headSeenAt: { type: ['string', 'null'] },
    blocked: {
      type: ['object', 'null'],
      properties: { head: { type: 'string' }, applied: { type: 'string' }, reason: { type: 'string' } },
    },
    drift: { type: 'array', items: { type: 'string' } },
    conflicts: { type: 'array', items: { type: 'string' } },
    requests: { type: 'array', items: { type: 'string' } },
    lastRunAt: { type: ['string', 'null'] },
    lastError: { type: ['string', 'null'] },
    leading: { type: 'boolean' },
  },
} as const;

/** `gitops` (and `gitopsError`) of the status, when the server has a gitops source; undefined fields as null. */
async function gitopsOf(source: GitopsSource | undefined): Promise<object> {
  if (!source) return {};
  try {
    const view = await source();
    if (!view) return { gitops: null };
    return {
      gitops: {
        ...view,
        appliedCommit: view.appliedCommit ?? null,
        appliedAt: view.appliedAt ?? null,
        head: view.head ?? null,
        headSeenAt: view.headSeenAt ?? null,
        blocked: view.blocked ?? null,
        lastRunAt: view.lastRunAt ?? null,
        lastError: view.lastError ?? null,
      },
    };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { gitops: null, gitopsError: typeof code === 'string' ? code : 'INTERNAL' };
  }
}

/** What a failover store adds (`@summit-config/backends`' `FailoverStore.status()`), structurally. */
interface FailoverLike {
  status(): {
    serving: string | undefined;
    watching: string | undefined;
    tiers: ReadonlyArray<{
      name: string;
      durable: boolean;
      role: string;
      state: string;
      consecutiveFailures: number;
      lastError: string | undefined;
      since: string;
    }>;
    unsynced: readonly string[];
    divergent: number;
    epoch: string | undefined;
    mirrorTrusted: boolean;
  };
}

function isFailover(store: ConfigStore): store is ConfigStore & FailoverLike {
  return typeof (store as Partial<FailoverLike>).status === 'function' && store.capabilities.tiered === true;
}

/** The ref a single store is probed with: a read of a head that normally does not exist. */
const PROBE = parseRef('global/summit-server/status-probe');

const tierSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    durable: { type: 'boolean' },
    role: { type: 'string', description: '`record`, `mirror`, `plain` or `cache`' },
    state: { type: 'string', description: 'the breaker: `closed` (serving), `open` or `half-open`' },
    consecutiveFailures: { type: 'integer' },
    failing: { type: 'boolean' },
    since: { type: 'string' },
    error: { type: 'string', description: 'a single store: the code of the failed probe' },
  },
  required: ['name', 'durable', 'role', 'state', 'failing'],
} as const;

const findingSchema = {
  type: 'object',
  properties: {
    kind: { type: 'string' },
    ref: { type: 'string' },
    message: { type: 'string' },
    source: { type: 'string' },
    tier: { type: 'string' },
    version: { type: 'integer' },
    remediated: { type: 'boolean' },
    remediation: { type: 'string' },
  },
  required: ['kind', 'ref', 'message'],
  additionalProperties: true,
} as const;

/** `leader` (and `leaderError`) of the status, when the server has a leader source. */
async function leaderOf(source: LeaderSource | undefined): Promise<object> {
  if (!source) return {};
  try {
    const view = await source();
    return {
      leader: view
        ? { holder: view.holder, ...(view.fencingToken !== undefined ? { fencingToken: view.fencingToken } : {}) }
        : null,
    };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return { leader: null, leaderError: typeof code === 'string' ? code : 'INTERNAL' };
  }
}

export function operationRoutes(app: FastifyInstance, { store, rbac, drift, leader, gitops }: ServerContext): void {
  /** The actor holding `config:audit:read`, or a 501 sent when the server has no access checker. */
  function allowed(request: FastifyRequest, reply: FastifyReply) {
    if (!rbac) {
      sendProblem(request, reply, problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without an rbac'));
      return false;
    }
    rbac.check(actorOf(request), 'config:audit:read');
    return true;
  }

  app.get(
    '/api/v1/status',
    {
      schema: {
        tags: ['operations'],
        summary: "The store's tiers (a failover chain's breakers, or the one store probed) and the last drift run",
        security,
        response: {
          200: {
            type: 'object',
            properties: {
              kind: { type: 'string', enum: ['failover', 'single'] },
              serving: { type: ['string', 'null'] },
              watching: { type: 'string' },
              tiers: { type: 'array', items: tierSchema },
              unsynced: { type: 'array', items: { type: 'string' } },
              divergent: { type: 'integer' },
              epoch: { type: 'string' },
              mirrorTrusted: { type: 'boolean' },
              leader: {
                type: ['object', 'null'],
                properties: { holder: { type: 'string' }, fencingToken: { type: 'integer' } },
                required: ['holder'],
              },
              leaderError: { type: 'string' },
              gitops: gitopsSchema,
              gitopsError: { type: 'string' },
              drift: {
                type: ['object', 'null'],
                properties: {
                  startedAt: { type: 'string' },
                  examined: { type: 'integer' },
                  findings: { type: 'integer' },
                  remediated: { type: 'integer' },
                },
              },
            },
            required: ['kind', 'serving', 'tiers'],
          },
          ...errorResponses(501),
        },
      },
    },
    async (request, reply) => {
      if (!allowed(request, reply)) return reply;
      if (!store) {
        return sendProblem(
          request,
          reply,
          problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without a store'),
        );
      }
      const [latest, leaderSummary, gitopsSummary] = await Promise.all([
        drift ? drift() : undefined,
        leaderOf(leader),
        gitopsOf(gitops),
      ]);
      const driftSummary = drift
        ? {
            drift: latest
              ? {
                  startedAt: latest.startedAt,
                  examined: latest.examined,
                  findings: latest.findings.length,
                  remediated: latest.remediated,
                }
              : null,
          }
        : {};
      if (isFailover(store)) {
        const st = store.status();
        return {
          kind: 'failover',
          serving: st.serving ?? null,
          watching: st.watching,
          // A tier's last error message may name hosts: only whether it is failing is served.
          tiers: st.tiers.map((t) => ({
            name: t.name,
            durable: t.durable,
            role: t.role,
            state: t.state,
            consecutiveFailures: t.consecutiveFailures,
            failing: t.consecutiveFailures > 0 || t.state !== 'closed',
            since: t.since,
          })),
          unsynced: [...st.unsynced],
          divergent: st.divergent,
          epoch: st.epoch,
          mirrorTrusted: st.mirrorTrusted,
          ...leaderSummary,
          ...driftSummary,
          ...gitopsSummary,
        };
      }
      let error: string | undefined;
      try {
        await store.getHead(PROBE);
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        error = typeof code === 'string' ? code : 'INTERNAL';
      }
      return {
        kind: 'single',
        serving: error === undefined ? store.name : null,
        tiers: [
          {
            name: store.name,
            durable: store.capabilities.durable,
            role: 'plain',
            state: error === undefined ? 'closed' : 'open',
            failing: error !== undefined,
            ...(error === undefined ? {} : { error }),
          },
        ],
        ...leaderSummary,
        ...driftSummary,
        ...gitopsSummary,
      };
    },
  );

  app.get(
    '/api/v1/drift',
    {
      schema: {
        tags: ['operations'],
        summary: 'The latest drift report (head mismatches between tiers, bad checksums, lagging instances)',
        security,
        querystring: {
          type: 'object',
          properties: {
            kind: { type: 'array', items: { type: 'string' }, description: 'only findings of these kinds' },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              startedAt: { type: 'string' },
              durationMs: { type: 'number' },
              examined: { type: 'integer' },
              findings: { type: 'array', items: findingSchema },
              remediated: { type: 'integer' },
              reconcile: jsonObject,
            },
            required: ['startedAt', 'durationMs', 'examined', 'findings', 'remediated'],
          },
          ...errorResponses(404, 501),
        },
      },
    },
    async (request, reply) => {
      if (!allowed(request, reply)) return reply;
      if (!drift) {
        return sendProblem(
          request,
          reply,
          problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without a drift report source'),
        );
      }
      const report = await drift();
      if (!report) throw errors.notFound('no drift run has completed yet');
      const { kind } = request.query as { kind?: string[] };
      const findings = kind ? report.findings.filter((f) => kind.includes(f.kind)) : report.findings;
      return { ...report, findings };
    },
  );
}
