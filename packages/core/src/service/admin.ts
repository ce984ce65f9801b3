/**
 * Administration: environments, schemas, approval-independent policies, the audit trail (query and
 * chain verification) and export / import of everything. Every change here writes its audit event in
 * the same step as the change.
 */
import { checkpointTrail } from '../audit/checkpoint.js';
import { type AuditQuery, type AuditSource, eventOf } from '../audit/types.js';
import { readAnchors, verifyAuditTrail } from '../audit/verify.js';
import { errors } from '../errors/config-error.js';
import { type Environment, validateEnvironments } from '../model/environment.js';
import { assertJson, canonicalJson, isPlainObject } from '../model/json.js';
import { parseId, parseRef, refKey } from '../model/ref.js';
import { isPermission, type Permission } from '../rbac/permissions.js';
import type { Actor } from '../rbac/rbac.js';
import { schemaDefaults } from '../schema/defaults.js';
import { SchemaRegistry } from '../schema/registry.js';
import type { StoredPolicy } from '../store/governance.js';
import { exportLines, importRecords } from './backup.js';
import type { ChangeSteps } from './changes.js';
import type { SchemaAuditContext, ServiceContext } from './context.js';
import { diffViews } from './diff.js';
import { checkEnvironmentInput, checkSource, checkVersionNumber, optionsObject } from './inputs.js';
import type { CallOptions, ConfigService } from './types.js';
import { resolvedViews } from './views.js';

const POLICY_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
/** What `recordEvent` may record: `<namespace>.<verb>`, not in a namespace the service writes itself. */
const RECORDED_ACTION = /^[a-z][a-z0-9_-]{0,31}\.[a-z0-9_.-]{1,31}$/;
/** `session.*`: the acting principal's own console session; recorded without a permission. */
const SESSION_NAMESPACE = 'session';
const OWN_NAMESPACES = new Set(['config', 'request', 'environment', 'schema', 'policy', 'import', 'export', 'audit']);

type AdminMethod =
  | 'createEnvironment'
  | 'updateEnvironment'
  | 'listEnvironments'
  | 'registerSchema'
  | 'publishSchema'
  | 'getSchema'
  | 'listSchemas'
  | 'validateDocument'
  | 'putPolicy'
  | 'getPolicy'
  | 'listPolicies'
  | 'audit'
  | 'verifyAudit'
  | 'checkpointAudit'
  | 'recordEvent'
  | 'signerKeyId'
  | 'exportAll'
  | 'importAll';

function checkPolicyName(name: unknown): void {
  if (typeof name !== 'string' || !POLICY_NAME.test(name)) {
    throw errors.constraint('policy name must be 1-128 characters of [A-Za-z0-9_.-]');
  }
}

/** What an environment change does to the list: checks it, and says how to audit it. */
type EnvironmentChange = (
  current: readonly Environment[],
  env: Environment,
) => { action: string; message: string; previous: object };

export function adminMethods(ctx: ServiceContext, steps: ChangeSteps): Pick<ConfigService, AdminMethod> {
  const { store, governance, schemas, schemaAudit, limits, defaultSource, signer, trust, auditAnchors } = ctx;
  const { begin, authorize, callSource, event, now, ready, environmentMap } = ctx;
  const { documentsOf } = steps;

  return {
    createEnvironment(actor, input, opts) {
      return saveEnvironment(actor, input, opts, 'createEnvironment', (current, env) => {
        if (current.some((e) => e.name === env.name))
          throw errors.constraint(`environment "${env.name}" already exists`);
        validateEnvironments([...current, env]);
        return {
          action: 'environment.create',
          message: `environment ${env.name}${env.parent ? ` (parent ${env.parent})` : ''} created`,
          previous: {},
        };
      });
    },

    updateEnvironment(actor, input, opts) {
      return saveEnvironment(actor, input, opts, 'updateEnvironment', (current, env) => {
        const previous = current.find((e) => e.name === env.name);
        if (!previous) throw errors.environmentNotFound(env.name);
        validateEnvironments(current.map((e) => (e.name === env.name ? env : e)));
        return { action: 'environment.update', message: `environment ${env.name} updated`, previous };
      });
    },

    async listEnvironments(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'env:read');
      await ready();
      return governance.listEnvironments();
    },

    async registerSchema(actorInput, id, schema, opts) {
      const actor = schemaActor(actorInput, id, 'schema:write');
      const source = callSource(opts, 'registerSchema');
      await schemas.load(id);
      const before = schemas.latestVersion(id);
      return registering(
        actor,
        id,
        source,
        () => schemas.register(id, schema),
        (version) => (version !== before ? version : undefined),
      );
    },

    async publishSchema(actorInput, id, schema, opts) {
      const actor = schemaActor(actorInput, id, 'schema:write');
      const o = optionsObject(opts, 'publishSchema');
      const source = checkSource(o.source, defaultSource);
      if (o.force !== undefined && typeof o.force !== 'boolean') throw errors.constraint('force must be a boolean');
      const checked = schemas.checkSchema(schema, id);
      const envs = await environmentMap();
      await schemas.load(id);
      const views = resolvedViews(await documentsOf(id), envs, schemaDefaults(checked));
      const currentDocuments = Object.fromEntries(views.map((v) => [v.name, v.value]));
      return registering(
        actor,
        id,
        source,
        () => schemas.publish(id, checked, { currentDocuments, force: o.force === true }),
        (report) => (report.changed ? report.version : undefined),
      );
    },

    async getSchema(actorInput, id, version) {
      schemaActor(actorInput, id, 'schema:read');
      if (version !== undefined) checkVersionNumber(version, 'version', 1);
      await schemas.load(id);
      return schemas.get(id, version);
    },

    async listSchemas(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'schema:read');
      const byId = new Map<string, { id: string; version: number; versions: number }>();
      for (const stored of await governance.listSchemas()) {
        const entry = byId.get(stored.id) ?? { id: stored.id, version: 0, versions: 0 };
        entry.version = Math.max(entry.version, stored.version);
        entry.versions++;
        byId.set(stored.id, entry);
      }
      return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },

    async validateDocument(actorInput, id, value, opts) {
      schemaActor(actorInput, id, 'schema:read');
      const o = optionsObject(opts, 'validateDocument');
      await schemas.load(id);
      return schemas.check(
        id,
        value,
        o.version === undefined ? {} : { version: checkVersionNumber(o.version, 'version', 1) },
      );
    },

    async putPolicy(actorInput, name, policy, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'policy:write');
      const source = callSource(opts, 'putPolicy');
      checkPolicyName(name);
      if (!isPlainObject(policy)) throw errors.constraint('a policy must be a JSON object');
      assertJson(policy, '/policy');
      const bytes = Buffer.byteLength(canonicalJson(policy), 'utf8');
      if (bytes > limits.maxDocumentBytes) throw errors.tooLarge(bytes, limits.maxDocumentBytes);
      const previous = await governance.getPolicy(name);
      const stored: StoredPolicy = { name, policy: structuredClone(policy), updatedAt: now().toISOString() };
      await governance.putPolicy(
        stored,
        event(
          actor,
          'policy.put',
          {
            message: `policy ${name} ${previous ? 'updated' : 'created'}`,
            changes: diffViewsOf(previous?.policy ?? {}, policy),
          },
          source,
        ),
      );
      return stored;
    },

    async getPolicy(actorInput, name) {
      const actor = begin(actorInput);
      authorize(actor, 'policy:read');
      checkPolicyName(name);
      return governance.getPolicy(name);
    },

    async listPolicies(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'policy:read');
      return governance.listPolicies();
    },

    async audit(actorInput, query = {}) {
      const actor = begin(actorInput);
      if (!isPlainObject(query)) throw errors.constraint('audit query must be an object');
      let q: AuditQuery = query;
      if (query.ref !== undefined) {
        const ref = parseRef(query.ref);
        authorize(actor, 'config:audit:read', ref);
        q = { ...query, ref: refKey(ref) };
      } else authorize(actor, 'config:audit:read');
      return (await governance.queryAudit(q)).map(eventOf);
    },

    async verifyAudit(actorInput) {
      const actor = begin(actorInput);
      authorize(actor, 'config:audit:read');
      return verifyAuditTrail(trailSource());
    },

    async checkpointAudit(actorInput, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'config:audit:read');
      const o = optionsObject(opts, 'checkpointAudit');
      if (o.adopt !== undefined && typeof o.adopt !== 'boolean') throw errors.constraint('adopt must be a boolean');
      if (o.adopt === true) authorize(actor, 'policy:write');
      if (!signer || !trust) {
        throw errors.constraint(
          "checkpointAudit needs the service's signing key (option signer, with its public key or a trust root): a checkpoint must be signed",
        );
      }
      return checkpointTrail({
        ...trailSource(),
        signer,
        trust,
        now,
        adopt: o.adopt === true,
        ...(o.signal !== undefined ? { signal: o.signal as AbortSignal } : {}),
      });
    },

    async recordEvent(actorInput, input, opts) {
      const actor = begin(actorInput);
      if (!isPlainObject(input)) throw errors.constraint('recordEvent needs { action, message, permission }');
      // An actor's own console session (sign-in, sign-out) is recorded whatever its roles.
      const ownSession = typeof input.action === 'string' && input.action.startsWith(`${SESSION_NAMESPACE}.`);
      if (!ownSession) {
        if (!isPermission(input.permission))
          throw errors.constraint('recordEvent permission must be a known permission');
        authorize(actor, input.permission);
      }
      const source = callSource(opts, 'recordEvent');
      if (
        typeof input.action !== 'string' ||
        !RECORDED_ACTION.test(input.action) ||
        OWN_NAMESPACES.has(input.action.slice(0, input.action.indexOf('.')))
      ) {
        throw errors.constraint(
          `recordEvent action ${JSON.stringify(input.action)} must be <namespace>.<verb> outside the service's own namespaces`,
        );
      }
      if (typeof input.message !== 'string') throw errors.constraint('recordEvent message must be a string');
      const fields = {
        message: input.message,
        ...(input.ref !== undefined ? { ref: refKey(parseRef(input.ref)) } : {}),
        ...(input.environment !== undefined ? { environment: input.environment } : {}),
      };
      return eventOf(await governance.appendAudit(event(actor, input.action, fields, source)));
    },

    signerKeyId: signer?.keyId,

    async exportAll(actorInput, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'export');
      const o = optionsObject(opts, 'exportAll');
      await ready();
      return exportLines(backupDeps(actor, defaultSource), o);
    },

    async importAll(actorInput, source, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'import');
      const o = optionsObject(opts, 'importAll');
      return importRecords(backupDeps(actor, checkSource(o.source, defaultSource)), source, o);
    },
  };

  /** What the audit verification reads: the chain, the store's versions, the trust root and the anchors. */
  function trailSource() {
    return {
      readChain: (after: number, limit: number) => governance.readAuditChain(after, limit),
      version: (ref: string, version: number) => store.getVersion(parseRef(ref), version, { consistent: true }),
      trust,
      anchors: auditAnchors,
    };
  }

  function diffViewsOf(a: object, b: object) {
    return diffViews(a as never, b as never);
  }

  /** The checked actor of a call on schema `id`: a valid id, and the permission held. */
  function schemaActor(actorInput: Actor, id: string, permission: Permission): Actor {
    const actor = begin(actorInput);
    parseId(id);
    authorize(actor, permission);
    return actor;
  }

  async function saveEnvironment(
    actorInput: Actor,
    input: Environment,
    opts: CallOptions | undefined,
    what: 'createEnvironment' | 'updateEnvironment',
    change: EnvironmentChange,
  ): Promise<Environment> {
    const actor = begin(actorInput);
    authorize(actor, 'env:write');
    const source = callSource(opts, what);
    const env = checkEnvironmentInput(input);
    await ready();
    await governance.updateEnvironments((current) => {
      const { action, message, previous } = change(current, env);
      return {
        value: [env],
        audit: event(actor, action, { environment: env.name, message, changes: diffViewsOf(previous, env) }, source),
      };
    });
    return env;
  }

  /**
   * Runs a schema registration with its audit context. A registry persisting to the governance storage
   * records the event with the schema; otherwise (a registry passed in the options) it is recorded
   * after the registration. `changed` gives the new version, or undefined when nothing changed.
   */
  async function registering<T>(
    actor: Actor,
    id: string,
    source: AuditSource,
    run: () => Promise<T>,
    changed: (result: T) => number | undefined,
  ): Promise<T> {
    const audit: SchemaAuditContext = { actor, source, recorded: false };
    const result = await schemaAudit.run(audit, run);
    const version = changed(result);
    if (version !== undefined && !audit.recorded) {
      await governance.appendAudit(
        event(actor, 'schema.register', { message: `schema ${id} v${version}`, changes: [] }, source),
      );
    }
    return result;
  }

  function backupDeps(actor: Actor, source: AuditSource) {
    const checker = new SchemaRegistry();
    return {
      store,
      governance,
      limits,
      now,
      checkSchema: (schema: unknown, id: string) => {
        checker.checkSchema(schema, id);
      },
      checkEnvironment: checkEnvironmentInput,
      auditFor: (action: string, message: string) => event(actor, action, { message }, source),
      signer,
      trust,
      checkpoints: async () => (trust ? (await readAnchors(auditAnchors, trust)).valid.map((v) => v.checkpoint) : []),
    };
  }
}
