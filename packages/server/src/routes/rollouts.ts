/**
 * Rollouts (the console's rollouts page, issue 19): the refs whose head has a `rollout`, with the
 * state of each progressive rule (its share, step, health gate and the last step the agent wrote),
 * and the moves a person makes by hand (advance one step, promote, abort, pause, resume). A move is
 * core's pure transform (`advanceRollout`, `promoteRollout`, `abortRollout` as the agent's stepping
 * uses them; `pauseRollout`, `resumeRollout`)
 * written as a new version through the change service, a compare-and-set on the head read (or on
 * `If-Match`); where the environments are guarded (`409 APPROVAL_REQUIRED`), `propose: true` opens
 * a change request with the same document instead. RBAC and audit are the service's.
 */
import {
  abortRollout,
  advanceRollout,
  type ConfigVersion,
  type JsonObject,
  pauseRollout,
  promoteRollout,
  type RolloutRule,
  type RolloutSpec,
  refKey,
  resumeRollout,
  validateRollout,
} from '@summit-config/core';
import { currentShare, errors, isTombstone, mapConcurrently } from '@summit-config/core/internal';
import type { FastifyInstance } from 'fastify';
import { actorOf, callOptions, etagOf, expectedVersionOf, writeCallOptions } from '../request-context.js';
import {
  changeRequestSchema,
  errorResponses,
  ifMatchHeader,
  jsonObject,
  refParams,
  security,
  versionSchema,
} from '../schemas.js';
import { listHeads, listQuery, refOf } from './configs.js';
import type { ServerContext } from './context.js';

/** Each move by hand: core's transform and the verb of its default message. */
const MOVES = {
  advance: { move: advanceRollout, verb: 'advanced' },
  promote: { move: promoteRollout, verb: 'promoted' },
  abort: { move: abortRollout, verb: 'aborted' },
  pause: { move: pauseRollout, verb: 'paused' },
  resume: { move: resumeRollout, verb: 'resumed' },
} as const;
type Action = keyof typeof MOVES;
const ACTIONS = Object.keys(MOVES) as Action[];

/** The agent's stepping message: `rollout <rule>: <action>[ to N bps] (<gate detail>)`. */
const STEP_MESSAGE = /^rollout (\S+): (advanced|promoted|aborted)(?: to (\d+) bps)? \((.*)\)$/s;
/** Heads read at once by the list. */
const READ_CONCURRENCY = 16;
/** How many versions back the last step of each rule is looked for. */
const HISTORY_DEPTH = 50;

const ruleSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    strategy: { type: 'string' },
    description: { type: 'string' },
    enabled: { type: 'boolean' },
    progressive: { type: 'boolean' },
    state: { type: 'string', enum: ['running', 'paused', 'promoted', 'aborted'] },
    shareBps: { type: 'integer', description: 'the share served now (basis points)' },
    bps: { type: 'integer' },
    schedule: { type: 'array', items: { type: 'integer' } },
    step: { type: 'integer' },
    stepIntervalMinutes: { type: 'integer' },
    nextStepAt: { type: 'string', description: 'when the agent may step it next (running, with an interval)' },
    healthGate: jsonObject,
    lastStep: {
      type: 'object',
      description: "the last version the agent's stepping wrote for this rule, with its gate check",
      properties: {
        version: { type: 'integer' },
        action: { type: 'string' },
        shareBps: { type: 'integer' },
        gate: { type: 'string' },
        at: { type: 'string' },
        by: { type: 'string' },
      },
    },
    rule: jsonObject,
  },
  required: ['id', 'strategy', 'progressive', 'rule'],
} as const;

const rolloutSchema = {
  type: 'object',
  properties: {
    ref: { type: 'string' },
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    createdBy: { type: 'string' },
    message: { type: 'string' },
    enabled: { type: 'boolean' },
    description: { type: 'string' },
    rules: { type: 'array', items: ruleSchema },
  },
  required: ['ref', 'version', 'enabled', 'rules'],
} as const;

interface LastStep {
  version: number;
  action: string;
  shareBps?: number;
  gate: string;
  at?: string;
  by?: string;
}

function ruleView(rule: RolloutRule, doc: ConfigVersion, last: LastStep | undefined) {
  const base = {
    id: rule.id,
    strategy: rule.strategy,
    ...(rule.description !== undefined ? { description: rule.description } : {}),
    enabled: rule.enabled !== false,
    rule: rule as unknown as JsonObject,
  };
  if (rule.strategy !== 'percentage' && rule.strategy !== 'canary') return { ...base, progressive: false };
  const state = rule.state ?? 'running';
  const due =
    state === 'running' && rule.schedule !== undefined && rule.stepIntervalMinutes !== undefined
      ? new Date(Date.parse(doc.createdAt) + rule.stepIntervalMinutes * 60_000).toISOString()
      : undefined;
  return {
    ...base,
    progressive: true,
    state,
    shareBps: currentShare(rule),
    ...(rule.bps !== undefined ? { bps: rule.bps } : {}),
    ...(rule.schedule !== undefined ? { schedule: rule.schedule, step: rule.step ?? 0 } : {}),
    ...(rule.stepIntervalMinutes !== undefined ? { stepIntervalMinutes: rule.stepIntervalMinutes } : {}),
    ...(due !== undefined ? { nextStepAt: due } : {}),
    ...(rule.healthGate !== undefined ? { healthGate: rule.healthGate as unknown as JsonObject } : {}),
    ...(last !== undefined ? { lastStep: last } : {}),
  };
}

export function rolloutRoutes(app: FastifyInstance, { service }: ServerContext): void {
  app.get(
    '/api/v1/rollouts',
    {
      schema: {
        tags: ['rollouts'],
        summary: 'The configs whose head has rollout rules, with the state of each progressive rule',
        security,
        querystring: listQuery,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: rolloutSchema } }, required: ['items'] },
          ...errorResponses(),
        },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const heads = await listHeads(service, request);
      // The heads' documents and histories read a few at a time (not one after another), in list order.
      const views = await mapConcurrently(heads, READ_CONCURRENCY, async (head) => {
        const doc = await service.get(actor, head.ref);
        if (!doc?.rollout || isTombstone(doc)) return undefined;
        let spec: RolloutSpec;
        try {
          spec = validateRollout(doc.rollout);
        } catch {
          return undefined; // written before validation existed, or by hand in the store: not a rollout to show
        }
        const lastSteps = new Map<string, LastStep>();
        const progressive = (spec.rules ?? []).some((r) => r.strategy === 'percentage' || r.strategy === 'canary');
        if (progressive) {
          for (const v of await service.history(actor, head.ref, { limit: HISTORY_DEPTH })) {
            const m = v.message === undefined ? null : STEP_MESSAGE.exec(v.message);
            if (!m || lastSteps.has(m[1] as string)) continue;
            lastSteps.set(m[1] as string, {
              version: v.version,
              action: m[2] as string,
              ...(m[3] !== undefined ? { shareBps: Number(m[3]) } : {}),
              gate: m[4] as string,
              ...(v.createdAt !== undefined ? { at: v.createdAt } : {}),
              ...(v.createdBy !== undefined ? { by: v.createdBy } : {}),
            });
          }
        }
        return {
          ref: refKey(doc.ref),
          version: doc.version,
          createdAt: doc.createdAt,
          ...(doc.createdBy !== undefined ? { createdBy: doc.createdBy } : {}),
          ...(doc.message !== undefined ? { message: doc.message } : {}),
          enabled: spec.enabled !== false,
          ...(spec.description !== undefined ? { description: spec.description } : {}),
          rules: (spec.rules ?? []).map((r) => ruleView(r, doc, lastSteps.get(r.id))),
        };
      });
      return { items: views.filter((v) => v !== undefined) };
    },
  );

  app.post(
    '/api/v1/rollouts/:scope/*',
    {
      schema: {
        tags: ['rollouts'],
        summary:
          'Advance, promote, abort, pause or resume a progressive rule: a new version (compare-and-set on the head, or `If-Match`), or with `propose` a change request',
        security,
        params: refParams,
        headers: ifMatchHeader,
        body: {
          type: 'object',
          properties: {
            rule: { type: 'string', minLength: 1, maxLength: 64 },
            action: { type: 'string', enum: [...ACTIONS] },
            message: { type: 'string', maxLength: 1000 },
            propose: { type: 'boolean', description: 'open a change request instead (guarded environments)' },
          },
          required: ['rule', 'action'],
          additionalProperties: false,
        },
        response: {
          200: versionSchema,
          201: changeRequestSchema,
          ...errorResponses(404, 409, 412, 422),
        },
      },
    },
    async (request, reply) => {
      const ref = refOf(request);
      const body = request.body as { rule: string; action: Action; message?: string; propose?: boolean };
      const actor = actorOf(request);
      const doc = await service.get(actor, ref);
      if (!doc || doc.metadata.deleted === true) throw errors.notFound(`${ref} does not exist`, { ref });
      if (!doc.rollout) throw errors.notFound(`${ref} has no rollout rules`, { ref });
      const spec = doc.rollout as unknown as RolloutSpec;
      const next = MOVES[body.action].move(spec, body.rule);
      const moved = next.rules?.find((r) => r.id === body.rule);
      const share =
        body.action === 'advance' && moved && 'schedule' in moved && moved.schedule
          ? ` to ${moved.schedule[moved.step ?? 0]} bps`
          : '';
      const { verb } = MOVES[body.action];
      const message = body.message?.trim() || `rollout ${body.rule}: ${verb}${share} by hand`;
      const expectedVersion = expectedVersionOf(request) ?? doc.version;
      const content = {
        ref,
        config: doc.config,
        overrides: { ...doc.overrides },
        rollout: next as unknown as JsonObject,
        message,
      };
      if (body.propose === true) {
        const created = await service.propose(
          actor,
          { ...content, kind: 'set', baseVersion: expectedVersion },
          callOptions(request),
        );
        reply.code(201).header('Location', `/api/v1/change-requests/${encodeURIComponent(created.id)}`);
        return created;
      }
      const written = await service.set(actor, content, { ...writeCallOptions(request), expectedVersion });
      reply.header('ETag', etagOf(written));
      return written;
    },
  );
}
