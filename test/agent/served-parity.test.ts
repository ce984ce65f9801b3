/**
 * The agent serves what the SDK's client resolves. On the real Consul and PostgreSQL, the demo's
 * environments and configs (examples/demo-data.ts) are written through the change service with a
 * schema (defaults, types) for `database`, a secret reference in the demo app's database (the
 * local provider, in the same PostgreSQL schema), one in an `api` config (AWS Secrets Manager
 * through the real SDK against the wire fake, configured in the agents' `secrets.providers`) and a
 * plain canary. Three agent processes serve the
 * demo app: with `secrets: refs` on TCP, with `secrets: resolve` on TCP with a token, and with
 * `secrets: resolve` on a Unix socket. For every demo ref, environment and a set of rollout contexts,
 * each agent's body equals the `get` of an SDK client built as an application builds it (the schema
 * registry; the secret resolver for the resolving case). Then: the access rules of a resolving app,
 * its rendered file's mode, explain without values, an invalid version written past the service
 * (never served, acknowledged `rejected`, counted and logged), a secret that cannot be read, a new
 * secret version, and the plaintext scan of everything the agents wrote, answered or notified.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPostgresGovernance } from '@summit-config/backends/postgres';
import {
  type Actor,
  appendNext,
  type ConfigClient,
  type ConfigRef,
  type ConfigService,
  createConfigClient,
  createConfigService,
  createRbac,
  type Environment,
  type EvaluationContext,
  type JsonObject,
  parseRef,
} from '@summit-config/core';
import {
  createLocalProvider,
  createSqlSecretStorage,
  generateMasterKey,
  SecretResolver,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { createAwsProvider } from '@summit-config/secrets/aws';
import { type AwsFake, startAwsSecretsManager } from '@summit-config/test-support/fakes/aws-secrets-manager';
import { type WebhookReceiver, webhookReceiver } from '@summit-config/test-support/rotation';
import { q } from '@summit-config/test-support/sql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CONFIGS, DEMO_ENVIRONMENTS } from '../../examples/demo-data.js';
import { type AgentProcess, killAllAgents, startAgentProcess, uniqueSuffix, until } from './agent-process.js';
import { type Cluster, createCluster } from './cluster-fixture.js';
import { configPath, forms, get, metricValue, readTree } from './served-helpers.js';

const TOKEN = `served-${randomBytes(8).toString('hex')}`;
const AWS_KEY = { accessKeyId: 'AKIDSUMMITSERVED01', secretAccessKey: 'fake-served-secret-access-key' };
const auth = { Authorization: `Bearer ${TOKEN}` };
const ENVIRONMENTS = DEMO_ENVIRONMENTS.map((e) => e.name);
/** The agents' environment definitions, as an application's client is given them. */
const DEFINITIONS: Environment[] = DEMO_ENVIRONMENTS.map(({ approvalPolicy: _p, ...e }) => e);
const CONTEXTS: Array<EvaluationContext | undefined> = [
  undefined,
  ...Array.from({ length: 16 }, (_, i) => ({ userId: `user-${i}` })),
];
const DATABASE_SCHEMA = {
  type: 'object',
  properties: {
    host: { type: 'string' },
    port: { type: 'integer', minimum: 1 },
    ssl: { type: 'boolean' },
    name: { type: 'string' },
    timeoutMs: { type: 'integer', default: 5000 },
    pool: {
      type: 'object',
      properties: { min: { type: 'integer' }, max: { type: 'integer' }, idleMs: { type: 'integer', default: 30000 } },
    },
    password: {},
  },
};

describe('the agent serves what the SDK client resolves (real Consul and PostgreSQL, agent processes)', () => {
  let cluster: Cluster;
  let pool: pg.Pool;
  let service: ConfigService;
  let governance: ReturnType<typeof createPostgresGovernance>;
  let provider: ReturnType<typeof createLocalProvider>;
  let resolver: SecretResolver;
  let aws: AwsFake;
  let hook: WebhookReceiver;
  let awsProvider: ReturnType<typeof createAwsProvider>;
  const apiKey = `ak_${randomBytes(18).toString('base64url')}`;
  let dir: string;
  const masterKey = generateMasterKey();
  const password = `pw-${randomBytes(18).toString('base64url')}`;
  const password2 = `pw2-${randomBytes(18).toString('base64url')}`;
  const canary = `canary-${randomBytes(10).toString('hex')}`;
  const admin: Actor = { id: 'alice', roles: ['config-admin'] };
  const sdk = { refs: new Map<string, ConfigClient>(), resolve: new Map<string, ConfigClient>() };
  const agents = {} as { refs: AgentProcess; token: AgentProcess; socket: AgentProcess };
  const instances = {
    refs: `refs-${uniqueSuffix()}`,
    token: `token-${uniqueSuffix()}`,
    socket: `sock-${uniqueSuffix()}`,
  };
  let socketPath: string;
  const snapshotDirs = {} as Record<keyof typeof agents, string>;
  const rendered = {} as Record<keyof typeof agents, string>;
  /** Everything the agents answered that the scan reads. */
  const answered: string[] = [];
  const refs: string[] = [];

  /** Waits until agent `name` has acknowledged `version` of `ref` as rejected in every environment. */
  const rejectedEverywhere = (ref: ConfigRef, version: number, name: keyof typeof agents) =>
    until(
      async () => {
        const acks = (await cluster.chain.listAcks?.(ref)) ?? [];
        return ENVIRONMENTS.every((e) =>
          acks.some(
            (a) =>
              a.instance === instances[name] && a.environment === e && a.version === version && a.status === 'rejected',
          ),
        );
      },
      `${name}: the rejected acknowledgements`,
      30_000,
    );

  const agentConfig = (name: keyof typeof agents, extra: Record<string, unknown>) => {
    const base = cluster.agentConfig({
      instance: instances[name],
      apps: [
        {
          app: 'demo',
          environment: 'production',
          environments: ['staging', 'production', { name: 'production-eu', parent: 'production' }],
          ...(name === 'refs' ? {} : { secrets: 'resolve' }),
        },
      ],
      render: [{ app: 'demo', id: 'database', path: rendered[name], envPrefix: 'DATABASE_' }],
      secrets: { providers: { aws: { region: 'us-east-1', endpoint: aws.url, maxAttempts: 1 } } },
      // The leader's outbound notifications, scanned too.
      notifications: {
        pollMs: 100,
        webhooks: [{ name: 'scan', url: hook.url, secretEnv: 'SUMMIT_SCAN_HOOK_SECRET', events: ['config.*'] }],
      },
      ...extra,
    });
    snapshotDirs[name] = base.snapshotDir as string;
    return base;
  };

  beforeAll(async () => {
    cluster = createCluster('served');
    dir = await mkdtemp(join(tmpdir(), 'summit-served-'));
    socketPath = join(dir, 'agent.sock');
    for (const name of ['refs', 'token', 'socket'] as const) rendered[name] = join(dir, name, 'demo-database.env');
    pool = new pg.Pool({ connectionString: cluster.databaseUrl, max: 2 });
    pool.on('error', () => {});
    governance = createPostgresGovernance({ connectionString: cluster.databaseUrl, schema: cluster.schema });
    service = createConfigService({ store: cluster.chain, governance, rbac: createRbac({ roles: {} }) });
    provider = createLocalProvider({
      key: masterKey,
      storage: createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema: cluster.schema }),
    });
    aws = await startAwsSecretsManager({ accessKeyId: AWS_KEY.accessKeyId });
    hook = await webhookReceiver();
    awsProvider = createAwsProvider({ region: 'us-east-1', endpoint: aws.url, credentials: AWS_KEY, maxAttempts: 1 });
    resolver = new SecretResolver({ providers: [provider, awsProvider] });
    await provider.create('demo-db-password', password);
    await awsProvider.create('demo-api-key', apiKey);

    // The demo, as seed-demo.ts writes it, but unguarded: production environments would need an
    // approval for every write of the test.
    for (const e of DEFINITIONS) await service.createEnvironment(admin, { ...e, production: false });
    await service.registerSchema(admin, 'database', DATABASE_SCHEMA);
    for (const input of DEMO_CONFIGS) {
      await service.set(admin, input, { expectedVersion: 0 });
      refs.push(typeof input.ref === 'string' ? input.ref : `${input.ref.scope}/${input.ref.id}`);
    }
    const demoDb = DEMO_CONFIGS.find((c) => c.ref === 'app:demo/database');
    await service.set(admin, {
      ...demoDb,
      ref: 'app:demo/database',
      config: {
        ...(demoDb?.config as JsonObject),
        password: { $secret: { provider: 'local', name: 'demo-db-password' } },
      },
      message: 'the demo database password, from the local provider',
    });
    await service.set(admin, {
      ref: 'app:demo/api',
      config: { url: 'https://api.internal', key: { $secret: { provider: 'aws', name: 'demo-api-key' } } },
    });
    await service.set(admin, { ref: 'app:demo/canary', config: { marker: canary } });
    refs.push('app:demo/api', 'app:demo/canary');

    const env = {
      SUMMIT_MASTER_KEY: masterKey,
      SUMMIT_MASTER_KEY_FILE: undefined,
      AWS_ACCESS_KEY_ID: AWS_KEY.accessKeyId,
      AWS_SECRET_ACCESS_KEY: AWS_KEY.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      SUMMIT_SCAN_HOOK_SECRET: 'scan-hook-secret-0123456789',
    };
    [agents.refs, agents.token, agents.socket] = await Promise.all([
      startAgentProcess({ label: 'served-refs', config: agentConfig('refs', {}), env }),
      startAgentProcess({
        label: 'served-token',
        config: agentConfig('token', { http: { port: 0, token: TOKEN } }),
        env,
      }),
      startAgentProcess({
        label: 'served-socket',
        config: agentConfig('socket', { http: { socket: socketPath } }),
        env,
      }),
    ]);
    for (const agent of Object.values(agents)) {
      await until(
        () => agent.logs.filter((l) => l.msg === 'client ready').length === ENVIRONMENTS.length,
        `${agent.label}: every client to load`,
        60_000,
      );
    }

    // The SDK's clients, built as an application builds them (README "quick usage").
    for (const e of ENVIRONMENTS) {
      for (const mode of ['refs', 'resolve'] as const) {
        const client = await createConfigClient({
          store: cluster.chain,
          app: 'demo',
          environment: e,
          environments: DEFINITIONS,
          schemas: service.schemas,
          ...(mode === 'resolve' ? { secrets: resolver } : {}),
          instance: `sdk-${mode}-${e}`,
        });
        sdk[mode].set(e, client);
      }
    }
  }, 180_000);

  afterAll(async () => {
    killAllAgents();
    for (const c of [...sdk.refs.values(), ...sdk.resolve.values()]) await c.close();
    await resolver?.close();
    await provider?.close();
    await awsProvider?.close();
    await aws?.close();
    await hook?.close();
    await service?.close();
    await governance?.close();
    await cluster?.close();
    await pool?.query(`DROP SCHEMA IF EXISTS ${q(cluster.schema)} CASCADE`).catch(() => {});
    await pool?.end();
    await rm(dir, { recursive: true, force: true });
  });

  /** The agents' answers for every ref, environment and context, with the client's value beside each. */
  async function compareAll(): Promise<number> {
    let compared = 0;
    for (const ref of refs) {
      const { id } = parseRef(ref);
      for (const e of ENVIRONMENTS) {
        for (const context of id === 'checkout' ? CONTEXTS : [undefined]) {
          const path = configPath(ref, e, context);
          const targets = [
            { name: 'refs', target: { port: agents.refs.port }, headers: {}, client: sdk.refs.get(e) },
            { name: 'token', target: { port: agents.token.port }, headers: auth, client: sdk.resolve.get(e) },
            { name: 'socket', target: { socketPath }, headers: {}, client: sdk.resolve.get(e) },
          ];
          for (const t of targets) {
            const answer = await get(t.target, path, t.headers);
            expect(answer.status, `${t.name} ${path}: ${answer.text}`).toBe(200);
            expect(JSON.parse(answer.text), `${t.name} ${path}`).toEqual(t.client?.get(id, context));
            if (t.name === 'refs') expect(answer.headers['cache-control']).toBe('no-cache');
            else expect(answer.headers['cache-control'], `${t.name} ${path}`).toBe('no-store');
            compared++;
          }
        }
      }
    }
    return compared;
  }

  it('for every demo ref, environment and context: the agent body equals the client get, refs and resolved', async () => {
    const compared = await compareAll();
    // 5 refs, checkout in 17 contexts; 3 environments; 3 agents.
    expect(compared).toBe((4 + CONTEXTS.length) * ENVIRONMENTS.length * 3);
    // What was compared holds what this is about: the schema's defaults, a reference or its value.
    for (const e of ENVIRONMENTS) {
      const refsBody = JSON.parse(
        (await get({ port: agents.refs.port }, configPath('app:demo/database', e, undefined))).text,
      );
      expect(refsBody).toMatchObject({ timeoutMs: 5000, pool: { idleMs: 30000 } });
      expect(refsBody.password).toEqual({ $secret: { provider: 'local', name: 'demo-db-password' } });
      const resolved = await get({ port: agents.token.port }, configPath('app:demo/database', e, undefined), auth);
      expect(JSON.parse(resolved.text)).toMatchObject({ timeoutMs: 5000, password });
      answered.push(refsBody ? JSON.stringify(refsBody) : '');
      const api = await get({ socketPath }, configPath('app:demo/api', e, undefined));
      expect(JSON.parse(api.text)).toEqual({ url: 'https://api.internal', key: apiKey });
      const apiRefs = await get({ port: agents.refs.port }, configPath('app:demo/api', e, undefined));
      expect(JSON.parse(apiRefs.text).key).toEqual({ $secret: { provider: 'aws', name: 'demo-api-key' } });
    }
    // The agents read AWS through the SDK: the fake answered GetSecretValue calls beyond this process's.
    expect(aws.ops('GetSecretValue').length).toBeGreaterThan(1);
    // The rollout put some contexts on each side: both outcomes were compared.
    const flows = new Set(CONTEXTS.map((c) => sdk.refs.get('production')?.get<{ flow: string }>('checkout', c)?.flow));
    expect(flows).toEqual(new Set(['classic', 'new']));
  });

  it('a resolving app: no token refused, token and socket served no-store; explain shows the reference, never the value; the file is 0600', async () => {
    const path = configPath('app:demo/database', 'production', undefined);
    const bare = await get({ port: agents.token.port }, path);
    expect(bare.status).toBe(401);
    expect(bare.text).not.toContain(password);
    const wrong = await get({ port: agents.token.port }, path, { Authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    const ok = await get({ port: agents.token.port }, path, auth);
    expect(ok.status).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
    const etag = ok.headers.etag as string;
    answered.push(`etag ${etag}`);
    const unchanged = await get({ port: agents.token.port }, path, { ...auth, 'If-None-Match': etag });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers['cache-control']).toBe('no-store');
    const viaSocket = await get({ socketPath }, path);
    expect(viaSocket.status).toBe(200);
    expect(viaSocket.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(viaSocket.text).password).toBe(password);

    for (const e of ENVIRONMENTS) {
      for (const [name, target, headers] of [
        ['token', { port: agents.token.port }, auth],
        ['socket', { socketPath }, {}],
      ] as const) {
        const explained = await get(target, configPath('app:demo/database', e, undefined, '&explain=1'), headers);
        expect(explained.status, explained.text).toBe(200);
        expect(explained.headers['cache-control']).toBe('no-store');
        const body = JSON.parse(explained.text) as { value: JsonObject; explain: Record<string, { value: unknown }> };
        // Where the secret came from: the reference and the layer; not its value.
        expect(body.value.password).toEqual({ $secret: { provider: 'local', name: 'demo-db-password' } });
        expect(body.explain['/password/$secret/name']).toMatchObject({
          value: 'demo-db-password',
          layer: { kind: 'app' },
        });
        expect(body.value.timeoutMs).toBe(5000);
        expect(explained.text, `${name} explain in ${e}`).not.toContain(password);
        answered.push(explained.text);
      }
    }

    for (const name of ['token', 'socket'] as const) {
      await until(async () => (await readFile(rendered[name], 'utf8').catch(() => '')).includes(password), 'rendered');
      expect((await stat(rendered[name])).mode & 0o777, `${name} rendered file mode`).toBe(0o600);
    }
    const refsFile = await readFile(rendered.refs, 'utf8');
    expect(refsFile).toContain('demo-db-password');
    expect(refsFile).not.toContain(password);
  });

  it('an invalid version written past the service is never served: the last good stays, rejected is acknowledged, counted and logged', async () => {
    const ref = parseRef('app:demo/database');
    const head = (await cluster.chain.getHead(ref))?.version as number;
    const currentDoc = await cluster.chain.getVersion(ref, head);
    const current = currentDoc?.config as JsonObject;
    const overrides = currentDoc?.overrides;
    const before = await get({ port: agents.refs.port }, configPath('app:demo/database', 'staging', undefined));
    // The store takes what the service would refuse: the schema says port is an integer.
    const bad = await appendNext(cluster.chain, {
      ref: 'app:demo/database',
      config: { ...current, port: 'not-a-port' },
      ...(overrides ? { overrides } : {}),
      createdBy: 'bypass',
    });
    expect(bad.version).toBe(head + 1);
    for (const name of ['refs', 'token', 'socket'] as const) {
      await rejectedEverywhere(ref, bad.version, name);
      // The log line follows the acknowledgement (and the metric comes before the line).
      for (const e of ENVIRONMENTS) {
        const line = await agents[name].waitForLog(
          (l) => l.msg === 'version rejected: the last good value stays' && l.environment === e,
          `${name}: the rejection logged in ${e}`,
        );
        expect(line).toMatchObject({ app: 'demo', ref: 'app:demo/database', code: 'SCHEMA_VALIDATION' });
      }
    }
    const metrics = await get({ port: agents.refs.port }, '/metrics');
    answered.push(metrics.text);
    for (const e of ENVIRONMENTS) {
      for (const name of ['client_errors_total', 'versions_rejected_total']) {
        expect(
          metricValue(metrics.text, `summit_agent_${name}{app="demo",environment="${e}",code="SCHEMA_VALIDATION"}`),
          `${name} in ${e}`,
        ).toBeGreaterThanOrEqual(1);
      }
    }
    // The same as before, and the same as the client's, which refused it too.
    const after = await get({ port: agents.refs.port }, configPath('app:demo/database', 'staging', undefined));
    expect(after.text).toBe(before.text);
    expect(after.headers['x-summit-version']).toBe(String(head));
    await compareAll();

    // The next valid version is served (the rejection is not sticky).
    const good = await appendNext(cluster.chain, {
      ref: 'app:demo/database',
      config: { ...current, port: 6543 },
      ...(overrides ? { overrides } : {}),
      createdBy: 'fixed',
    });
    await until(
      async () => {
        for (const e of ENVIRONMENTS) {
          const path = configPath('app:demo/database', e, undefined);
          for (const [target, headers] of [
            [{ port: agents.refs.port }, {}],
            [{ port: agents.token.port }, auth],
            [{ socketPath }, {}],
          ] as const) {
            if ((await get(target, path, headers)).headers['x-summit-version'] !== String(good.version)) return false;
          }
          for (const mode of ['refs', 'resolve'] as const) {
            if (sdk[mode].get(e)?.resolve('database').versions.app !== good.version) return false;
          }
        }
        return true;
      },
      'the valid version served by every agent and client',
      30_000,
    );
    expect(
      JSON.parse((await get({ socketPath }, configPath('app:demo/database', 'staging', undefined))).text),
    ).toMatchObject({
      port: 6543,
      password,
    });
    await compareAll();
  });

  it('a secret that cannot be read: the resolving agents keep the last good value; a new secret version comes with the next config version', async () => {
    const ref = parseRef('app:demo/api');
    const missing = await appendNext(cluster.chain, {
      ref: 'app:demo/api',
      config: { url: 'https://api-2.internal', key: { $secret: { provider: 'aws', name: 'no-such-key' } } },
      createdBy: 'test',
    });
    for (const name of ['token', 'socket'] as const) {
      await rejectedEverywhere(ref, missing.version, name);
      // The log line (and before it the metric) follows each environment's acknowledgement.
      for (const e of ENVIRONMENTS) {
        const line = await agents[name].waitForLog(
          (l) =>
            l.msg === 'version rejected: the last good value stays' &&
            l.secret === 'no-such-key' &&
            l.environment === e,
          `${name}: the rejection logged in ${e}`,
        );
        expect(line).toMatchObject({ app: 'demo', provider: 'aws' });
      }
    }
    const rejected = await get({ port: agents.token.port }, '/metrics', auth);
    for (const e of ENVIRONMENTS) {
      const sample = rejected.text
        .split('\n')
        .find((l) =>
          l.startsWith(`summit_agent_versions_rejected_total{app="demo",environment="${e}",code="NOT_FOUND"}`),
        );
      expect(sample, `the rejection counted in ${e}`).toBeDefined();
    }
    // References served as they are stored: the refs agent and client take the version.
    await until(
      async () => {
        for (const e of ENVIRONMENTS) {
          const answer = await get({ port: agents.refs.port }, configPath('app:demo/api', e, undefined));
          if (answer.headers['x-summit-version'] !== String(missing.version)) return false;
          if (sdk.refs.get(e)?.resolve('api').versions.app !== missing.version) return false;
        }
        return true;
      },
      'the refs agent and clients take the new version',
      30_000,
    );
    const kept = JSON.parse((await get({ socketPath }, configPath('app:demo/api', 'staging', undefined))).text);
    expect(kept).toEqual({ url: 'https://api.internal', key: apiKey });
    await compareAll();

    // A new current version of the local secret, then a config version (as a rotation writes one):
    // the agents read the secret afresh (no cached old value).
    const next = await provider.write('demo-db-password', password2);
    await provider.promote('demo-db-password', next.version);
    const dbRef = parseRef('app:demo/database');
    const head = await cluster.chain.getVersion(dbRef);
    const bumped = await appendNext(cluster.chain, {
      ref: 'app:demo/database',
      config: head?.config as JsonObject,
      overrides: head?.overrides ?? {},
      metadata: { secretRotation: 'local/demo-db-password' },
      createdBy: 'rotation',
    });
    await until(
      async () => {
        for (const e of ENVIRONMENTS) {
          const path = configPath('app:demo/database', e, undefined);
          if (JSON.parse((await get({ port: agents.token.port }, path, auth)).text).password !== password2)
            return false;
          if (JSON.parse((await get({ socketPath }, path)).text).password !== password2) return false;
          if (sdk.resolve.get(e)?.resolve('database').versions.app !== bumped.version) return false;
          if (sdk.refs.get(e)?.resolve('database').versions.app !== bumped.version) return false;
          const refsAnswer = await get({ port: agents.refs.port }, path);
          if (refsAnswer.headers['x-summit-version'] !== String(bumped.version)) return false;
        }
        return true;
      },
      'the new secret value served with the new version',
      30_000,
    );
    await compareAll();
  });

  it('an agent with a resolving app and no secret provider (no secrets.providers, no master key) is refused at load, and writes no file', async () => {
    const file = join(dir, 'nokey', 'demo-database.env');
    const config = cluster.agentConfig({
      http: { port: 0, token: TOKEN },
      apps: [{ app: 'demo', environment: 'staging', secrets: 'resolve' }],
      render: [{ app: 'demo', id: 'database', path: file }],
    });
    const started = startAgentProcess({
      label: 'served-nokey',
      config,
      env: { SUMMIT_MASTER_KEY: undefined, SUMMIT_MASTER_KEY_FILE: undefined },
    });
    await expect(started).rejects.toThrow(/exited \(\d+\) before agent listening/);
    const error = await started.catch((e: Error) => e.message);
    expect(error).toMatch(/apps\[0\]\.secrets is resolve, but no secret provider is configured/);
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('no secret value in the agents logs, metrics, status, snapshots, refs-mode files, explain, ETags, notifications or the stores', async () => {
    // The snapshots exist (written after each applied change) before they are read.
    for (const name of ['refs', 'token', 'socket'] as const) {
      await until(
        async () => (await readTree(snapshotDirs[name])).split(canary).length - 1 >= ENVIRONMENTS.length,
        `${name}: the snapshots`,
        30_000,
      );
    }
    // Changes through the service after the agents started (a plain one, and one that references a
    // secret): the leader notifies them.
    await service.set(admin, { ref: 'app:demo/canary', config: { marker: canary, note: 'notified' } });
    const api = await cluster.chain.getVersion(parseRef('app:demo/api'));
    await service.set(admin, { ref: 'app:demo/api', config: api?.config as JsonObject, message: 'notified' });
    await until(
      () => ['app:demo/canary', 'app:demo/api'].every((r) => hook.raw.some((raw) => raw.includes(r))),
      'the notifications of the changes',
      30_000,
    );
    const corpora: Record<string, string> = {};
    corpora.notifications = hook.raw.join('\n');
    corpora.logs = Object.values(agents)
      .map((a) => a.output())
      .join('\n');
    const metrics = [
      await get({ port: agents.refs.port }, '/metrics'),
      await get({ port: agents.token.port }, '/metrics', auth),
      await get({ socketPath }, '/metrics'),
    ];
    expect(metrics.map((m) => m.status)).toEqual([200, 200, 200]);
    corpora.metrics = metrics.map((m) => m.text).join('\n');
    corpora.status = [
      (await get({ port: agents.refs.port }, '/v1/status')).text,
      (await get({ port: agents.token.port }, '/v1/status', auth)).text,
      (await get({ socketPath }, '/v1/status')).text,
    ].join('\n');
    corpora.snapshots = (await Promise.all(Object.values(snapshotDirs).map(readTree))).join('\n');
    corpora.renderedRefs = await readFile(rendered.refs, 'utf8');
    corpora.answered = answered.join('\n');
    // Explain of every ref in every environment, from both resolving agents (and their ETags).
    const explained: string[] = [];
    for (const ref of refs) {
      for (const e of ENVIRONMENTS) {
        for (const [target, headers] of [
          [{ port: agents.token.port }, auth],
          [{ socketPath }, {}],
        ] as const) {
          const answer = await get(target, configPath(ref, e, { userId: 'user-1' }, '&explain=1'), headers);
          expect(answer.status).toBe(200);
          explained.push(answer.text, String(answer.headers.etag));
          const plain = await get(target, configPath(ref, e, undefined), headers);
          explained.push(String(plain.headers.etag));
        }
      }
    }
    corpora.explain = explained.join('\n');
    expect(corpora.explain).toContain('demo-db-password');
    const kv = await fetch(`${cluster.consulAddr}/v1/kv/${cluster.prefix}?recurse=true`);
    corpora.consul = ((await kv.json()) as Array<{ Key: string; Value: string | null }>)
      .map((e) => `${e.Key}=${e.Value === null ? '' : Buffer.from(e.Value, 'base64').toString('utf8')}`)
      .join('\n');
    const tables = (
      await pool.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [cluster.schema],
      )
    ).rows.map((r) => r.table_name);
    expect(tables).toEqual(
      expect.arrayContaining(['config_versions', 'config_applied_state', 'summit_secret_versions']),
    );
    const rows: string[] = [];
    for (const table of tables) {
      const r = await pool.query<{ j: string }>(
        `SELECT row_to_json(t)::text AS j FROM ${q(cluster.schema)}.${q(table)} t`,
      );
      for (const row of r.rows) rows.push(`${table}: ${row.j}`);
    }
    corpora.postgres = rows.join('\n');

    // The scan sees the data: the plain canary is in every place that holds values.
    for (const where of ['snapshots', 'consul', 'postgres'] as const) {
      expect(corpora[where], `canary in ${where}`).toContain(canary);
    }
    expect(corpora.logs).toContain('version rejected');
    // And the secret was really served where it should be (the resolving app's file and answers).
    await until(
      async () => (await readFile(rendered.token, 'utf8')).includes(password2),
      'the resolving agent rendered the new value',
      30_000,
    );

    const found: string[] = [];
    for (const [where, text] of Object.entries(corpora)) {
      for (const [label, value] of Object.entries({
        password,
        apiKey,
        masterKey,
        awsSecret: AWS_KEY.secretAccessKey,
      })) {
        for (const [form, needle] of forms(value))
          if (text.includes(needle)) found.push(`${label} (${form}) in ${where}`);
      }
    }
    expect(found).toEqual([]);
  }, 90_000);
});
