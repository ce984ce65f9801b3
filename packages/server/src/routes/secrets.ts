/**
 * Secrets: metadata, rotation policies and a rotation trigger. **Never a value**: the routes call
 * `listVersions` (ids, stages, states, labels, times) and the rotation manager (policies, runs:
 * version ids, refs and sanitised errors), never `read`. Access: `secrets:read` for metadata
 * (checked here with the server's `rbac`), and the rotation manager's own checks for policies
 * (`secrets:read`, `secrets:write`) and rotations (`secrets:rotate`), as the CLI's `secret` commands.
 */
import type { Actor, ConfigError } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import type { RotationManager, RotationPolicy, SecretProvider, SecretVersionInfo } from '@summit-config/secrets';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { problem } from '../problems.js';
import { sendProblem } from '../reply.js';
import { actorOf, callOptions, writeCallOptions } from '../request-context.js';
import { emptyBodyAsObject, errorResponses, jsonObject, security } from '../schemas.js';
import type { ServerContext } from './context.js';

/** `ConfigServerOptions.secrets`: the providers whose metadata is served, and their rotation. Borrowed. */
export interface ServerSecretsOptions {
  /**
   * The provider a request without `?provider=` is about (`createLocalProvider`, aws, gcp, azure,
   * vault). Only `listVersions` is called.
   */
  provider: SecretProvider;
  /**
   * More providers, each chosen by a request's `?provider=<name>` (an unknown name answers 404).
   * The rotation manager must hold them too. Default none.
   */
  providers?: readonly SecretProvider[];
  /** Rotation policies and runs (`createRotationManager`). Without it the rotation routes answer `501`. */
  rotation?: RotationManager;
  /**
   * The secret names of `provider` (not of `providers`), for `GET /api/v1/secrets` (providers
   * cannot list). Default, and always for `providers`: the names that have a rotation policy on it.
   */
  listNames?: () => Promise<readonly string[]>;
}

/** Names the server serves: the local provider's characters, `/` written `%2F`; no `.` or `..` segment. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,256}$/;

function secretName(name: string): string {
  if (!SECRET_NAME.test(name) || name.split('/').some((s) => s === '.' || s === '..' || s === '')) {
    throw errors.constraint('a secret name is 1-256 characters of [A-Za-z0-9/_+=.@-] without "." or ".." segments');
  }
  return name;
}

/** A provider's `invalid` refusal is the caller's input (400), not a provider failure (502). */
async function provided<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const e = error as Partial<ConfigError> & { reason?: unknown };
    if (e?.code === 'SECRET_PROVIDER' && e.reason === 'invalid' && typeof e.message === 'string') {
      throw errors.constraint(e.message);
    }
    throw error;
  }
}

/** What a policy shows: no webhook URL (they may carry credentials), no handler options. */
export function policyView(p: RotationPolicy) {
  const generator = p.generator.type === 'handler' ? { type: 'handler', name: p.generator.name } : p.generator;
  return {
    secret: p.secret,
    state: p.state,
    step: p.step,
    enabled: p.enabled,
    intervalDays: p.intervalDays,
    cron: p.cron,
    graceMs: p.graceMs,
    generator,
    notifyCount: p.notify.length,
    lastRotatedAt: p.lastRotatedAt,
    nextRotationAt: p.nextRotationAt,
    run: p.run,
    error: p.error,
    lastRun: p.lastRun,
    revision: p.revision,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

function versionView(v: SecretVersionInfo) {
  return { version: v.version, stage: v.stage, state: v.state, createdAt: v.createdAt, labels: { ...v.labels } };
}

function stagesOf(versions: readonly SecretVersionInfo[]) {
  const at = (stage: string) => versions.find((v) => v.stage === stage)?.version;
  return { current: at('current'), previous: at('previous'), pending: at('pending') };
}

const policySchema = {
  type: 'object',
  description: 'A rotation policy and its run state (no webhook URL, no value)',
  properties: {
    secret: { type: 'object', properties: { provider: { type: 'string' }, name: { type: 'string' } } },
    state: { type: 'string', enum: ['idle', 'rotating', 'failed'] },
    step: { type: 'string' },
    enabled: { type: 'boolean' },
    intervalDays: { type: 'integer' },
    cron: { type: 'string' },
    graceMs: { type: 'integer' },
    generator: jsonObject,
    notifyCount: { type: 'integer' },
    lastRotatedAt: { type: 'string' },
    nextRotationAt: { type: 'string' },
    run: jsonObject,
    error: jsonObject,
    lastRun: jsonObject,
    revision: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
  required: ['secret', 'state', 'enabled', 'graceMs', 'revision'],
  additionalProperties: true,
} as const;

const stageProps = {
  current: { type: 'string' },
  previous: { type: 'string' },
  pending: { type: 'string' },
} as const;

const summarySchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    ...stageProps,
    versions: { type: 'integer' },
    createdAt: { type: 'string' },
    rotation: policySchema,
  },
  required: ['name', 'versions'],
} as const;

const versionSchema = {
  type: 'object',
  properties: {
    version: { type: 'string' },
    stage: { type: 'string' },
    state: { type: 'string' },
    createdAt: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['version', 'state'],
} as const;

/** `?provider=<name>`: which of the server's providers a request is about (default: its first). */
const providerQuery = {
  type: 'object',
  properties: {
    provider: {
      type: 'string',
      pattern: '^[a-z][a-z0-9-]{0,62}$',
      description: "the secret provider's name (default: the server's default provider, usually `local`)",
    },
  },
} as const;

const nameParams = {
  type: 'object',
  properties: { name: { type: 'string', description: 'the secret name (`/` as `%2F`)' } },
  required: ['name'],
} as const;

const policyBody = {
  type: 'object',
  description: 'RotationPolicyInput without `secret`: exactly one of `intervalDays` and `cron`',
  properties: {
    intervalDays: { type: 'integer', minimum: 1 },
    cron: { type: 'string', maxLength: 200 },
    gracePeriodDays: { type: 'integer', minimum: 0 },
    graceMs: { type: 'integer', minimum: 0 },
    generator: jsonObject,
    notify: { type: 'array', items: { type: 'string' }, maxItems: 20 },
    enabled: { type: 'boolean' },
    nextRotationAt: { type: 'string', format: 'date-time' },
  },
  additionalProperties: false,
} as const;

const rotateBody = {
  type: 'object',
  properties: {
    retry: { type: 'boolean', description: 'resume a failed run at its failed step' },
    force: { type: 'boolean', description: 'start anew although the last run failed after promoting' },
  },
  additionalProperties: false,
} as const;

type Rotation = NonNullable<ServerSecretsOptions['rotation']>;

export function secretRoutes(app: FastifyInstance, { service, secrets, rbac }: ServerContext): void {
  const tags = ['secrets'];
  /**
   * The rotation manager records nothing in the audit trail: changes made here are recorded through
   * the service (signed, with the request's origin), as the CLI records `secret.create`.
   */
  const audit = (
    request: FastifyRequest,
    action: string,
    message: string,
    permission: 'secrets:write' | 'secrets:rotate',
  ) => service.recordEvent(actorOf(request), { action, message, permission }, callOptions(request));
  /** The options, or a 501 sent. `rotation`: the rotation manager is needed too. */
  function ready(request: FastifyRequest, reply: FastifyReply, rotation = false) {
    if (!secrets || !rbac) {
      sendProblem(request, reply, problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without secrets'));
      return undefined;
    }
    if (rotation && !secrets.rotation) {
      sendProblem(
        request,
        reply,
        problem(501, 'CONSTRAINT_VIOLATION', 'this server was started without a secret rotation manager'),
      );
      return undefined;
    }
    const wanted = (request.query as { provider?: string } | undefined)?.provider;
    const all = [secrets.provider, ...(secrets.providers ?? [])];
    const provider = wanted === undefined ? secrets.provider : all.find((p) => p.name === wanted);
    if (!provider) {
      const names = all.map((p) => p.name).join(', ');
      sendProblem(
        request,
        reply,
        problem(404, 'NOT_FOUND', `no secret provider "${wanted}" on this server (it serves: ${names})`),
      );
      return undefined;
    }
    const listNames = provider === secrets.provider ? secrets.listNames : undefined;
    return { ...secrets, provider, listNames, rbac, actor: actorOf(request) };
  }
  const idOf = (provider: SecretProvider, name: string) => ({ provider: provider.name, name });
  /** The versions of a secret that exists (`NOT_FOUND` otherwise). */
  const versionsOf = (provider: SecretProvider, name: string) => provided(() => provider.listVersions(name));
  const policyOf = async (rotation: Rotation | undefined, actor: Actor, provider: SecretProvider, name: string) =>
    rotation ? await rotation.getPolicy(actor, idOf(provider, name)) : undefined;

  app.get(
    '/api/v1/secrets',
    {
      schema: {
        tags,
        summary: 'Secrets of the provider: stages, version count, rotation state (never a value)',
        security,
        querystring: providerQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              provider: { type: 'string' },
              kind: { type: 'string' },
              items: { type: 'array', items: summarySchema },
            },
            required: ['provider', 'items'],
          },
          ...errorResponses(404, 501, 502),
        },
      },
    },
    async (request, reply) => {
      const s = ready(request, reply);
      if (!s) return reply;
      s.rbac.check(s.actor, 'secrets:read');
      if (!s.listNames && !s.rotation) {
        return sendProblem(
          request,
          reply,
          problem(501, 'CONSTRAINT_VIOLATION', 'this server cannot list secret names (no listNames, no rotation)'),
        );
      }
      const policies = s.rotation
        ? (await s.rotation.listPolicies(s.actor)).filter((p) => p.secret.provider === s.provider.name)
        : [];
      const names = s.listNames ? [...(await s.listNames())] : policies.map((p) => p.secret.name);
      const items = [];
      for (const name of [...new Set(names)].sort()) {
        let versions: SecretVersionInfo[];
        try {
          versions = await versionsOf(s.provider, name);
        } catch (error) {
          if ((error as { code?: unknown }).code === 'NOT_FOUND') continue; // deleted since it was listed
          throw error;
        }
        const policy = policies.find((p) => p.secret.name === name);
        items.push({
          name,
          ...stagesOf(versions),
          versions: versions.length,
          createdAt: versions[0]?.createdAt,
          ...(policy ? { rotation: policyView(policy) } : {}),
        });
      }
      return { provider: s.provider.name, kind: s.provider.kind, items };
    },
  );

  app.get(
    '/api/v1/secrets/:name',
    {
      schema: {
        tags,
        summary: 'One secret: its versions (ids, stages, states, labels) and rotation state (never a value)',
        security,
        params: nameParams,
        querystring: providerQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              provider: { type: 'string' },
              name: { type: 'string' },
              ...stageProps,
              versions: { type: 'array', items: versionSchema },
              rotation: { anyOf: [policySchema, { type: 'null' }] },
            },
            required: ['provider', 'name', 'versions', 'rotation'],
          },
          ...errorResponses(404, 501, 502),
        },
      },
    },
    async (request, reply) => {
      const s = ready(request, reply);
      if (!s) return reply;
      s.rbac.check(s.actor, 'secrets:read');
      const name = secretName((request.params as { name: string }).name);
      const versions = await versionsOf(s.provider, name);
      const policy = await policyOf(s.rotation, s.actor, s.provider, name);
      return {
        provider: s.provider.name,
        name,
        ...stagesOf(versions),
        versions: versions.map(versionView),
        rotation: policy ? policyView(policy) : null,
      };
    },
  );

  app.get(
    '/api/v1/secrets/:name/rotation',
    {
      schema: {
        tags,
        summary: 'The rotation policy of a secret, with its run state',
        security,
        params: nameParams,
        querystring: providerQuery,
        response: { 200: policySchema, ...errorResponses(404, 501) },
      },
    },
    async (request, reply) => {
      const s = ready(request, reply, true);
      if (!s) return reply;
      const name = secretName((request.params as { name: string }).name);
      const policy = await policyOf(s.rotation, s.actor, s.provider, name);
      if (!policy) throw errors.notFound(`secret ${s.provider.name}/${name} has no rotation policy`);
      return policyView(policy);
    },
  );

  app.put(
    '/api/v1/secrets/:name/rotation',
    {
      schema: {
        tags,
        summary: 'Create or replace the rotation policy of an existing secret (its run state is kept)',
        security,
        params: nameParams,
        querystring: providerQuery,
        body: policyBody,
        response: { 200: policySchema, ...errorResponses(404, 501, 502) },
      },
    },
    async (request, reply) => {
      const s = ready(request, reply, true);
      if (!s) return reply;
      s.rbac.check(s.actor, 'secrets:write');
      const name = secretName((request.params as { name: string }).name);
      await versionsOf(s.provider, name); // the secret exists (NOT_FOUND otherwise)
      const input = { ...(request.body as Record<string, unknown>), secret: idOf(s.provider, name) };
      const stored = await (s.rotation as Rotation).putPolicy(s.actor, input as Parameters<Rotation['putPolicy']>[1]);
      const schedule =
        stored.intervalDays !== undefined ? `every ${stored.intervalDays} day(s)` : `on "${stored.cron}"`;
      await audit(
        request,
        'secret.policy',
        `rotation policy of secret ${s.provider.name}/${name} set: ${schedule}${stored.enabled ? '' : ' (disabled)'}`,
        'secrets:write',
      );
      return policyView(stored);
    },
  );

  app.delete(
    '/api/v1/secrets/:name/rotation',
    {
      schema: {
        tags,
        summary: 'Delete the rotation policy of a secret that is not rotating',
        security,
        params: nameParams,
        querystring: providerQuery,
        response: { 204: { type: 'null' }, ...errorResponses(404, 501) },
      },
    },
    async (request, reply) => {
      const s = ready(request, reply, true);
      if (!s) return reply;
      const name = secretName((request.params as { name: string }).name);
      const deleted = await (s.rotation as Rotation).deletePolicy(s.actor, idOf(s.provider, name));
      if (!deleted) throw errors.notFound(`secret ${s.provider.name}/${name} has no rotation policy`);
      await audit(
        request,
        'secret.policy-delete',
        `rotation policy of secret ${s.provider.name}/${name} deleted`,
        'secrets:write',
      );
      return reply.code(204).send();
    },
  );

  app.post(
    '/api/v1/secrets/:name/rotate',
    {
      preValidation: emptyBodyAsObject,
      schema: {
        tags,
        summary:
          'Rotate now (or resume the run under way) as far as it goes without waiting; the policy says where it stands',
        security,
        params: nameParams,
        querystring: providerQuery,
        body: rotateBody,
        response: { 200: policySchema, ...errorResponses(404, 409, 501, 502) },
      },
    },
    async (request, reply) => {
      const s = ready(request, reply, true);
      if (!s) return reply;
      const name = secretName((request.params as { name: string }).name);
      const { retry, force } = request.body as { retry?: boolean; force?: boolean };
      const { signal } = writeCallOptions(request);
      const rotation = s.rotation as Rotation;
      const options = { force: force === true, ...(signal ? { signal } : {}) };
      const id = idOf(s.provider, name);
      const policy = retry ? await rotation.retry(s.actor, id, options) : await rotation.rotate(s.actor, id, options);
      const where = policy.state === 'failed' ? `failed at ${policy.error?.step ?? policy.step}` : policy.state;
      const run = policy.run?.id ?? policy.lastRun?.runId;
      await audit(
        request,
        'secret.rotate',
        `secret ${s.provider.name}/${name}: rotation ${retry ? 'retried' : 'started'} by hand${run ? ` (run ${run})` : ''}: ${where}`,
        'secrets:rotate',
      );
      return policyView(policy);
    },
  );
}
