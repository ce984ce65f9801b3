/**
 * A full rotation on every provider: local (AES-GCM versions in PostgreSQL), and aws, gcp, azure
 * through their real SDKs against the wire-protocol fakes on 127.0.0.1 (as the provider tests do).
 * Each runs on the real PostgreSQL server: the config store, the change service's governance
 * storage and the policy table in one fresh schema, with a live client that resolves the
 * reference, reloads on the bump and acknowledges what it applied.
 */
import { Agent } from 'node:https';
import { type ConfigClient, type ConfigVersion, createConfigClient, parseRef } from '@summit-config/core';
import {
  createLocalProvider,
  createSqlSecretStorage,
  type RotationPolicy,
  type SecretProvider,
  sqlFromPgPool,
} from '@summit-config/secrets';
import { createAwsProvider } from '@summit-config/secrets/aws';
import { createAzureProvider, staticTokenCredential } from '@summit-config/secrets/azure';
import { createGcpProvider } from '@summit-config/secrets/gcp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsFake, startAwsSecretsManager } from '../../../test/fakes/aws-secrets-manager.js';
import { type AzureFake, startAzureKeyVault } from '../../../test/fakes/azure-key-vault.js';
import { type GcpFake, startGcpSecretManager } from '../../../test/fakes/gcp-secret-manager.js';
import { installNetworkGuard, type NetworkGuard } from '../../../test/fakes/network-guard.js';
import { selfSignedCertificate } from '../../../test/fakes/tls.js';
import { freshSchema, masterKey, pgPool, quoteIdent, type TestPool } from './helpers.js';
import { rejection, secretName, secretText } from './provider-contract.js';
import {
  actors,
  closeSharedDatabases,
  countingProvider,
  recordEvents,
  resolverOf,
  rotationHarness,
  waitFor,
} from './rotation-helpers.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.METADATA_SERVER_DETECTION = 'none';

const HOUR = 3_600_000;
const awsCredentials = { accessKeyId: 'AKIDSUMMITFAKE0001', secretAccessKey: 'fake-secret-access-key' };
const gcpToken = 'ya29.summit-fake-token';
let guard: NetworkGuard;
let aws: AwsFake;
let gcp: GcpFake;
let azure: AzureFake;
let agent: Agent;
let pool: TestPool;
const schemas: string[] = [];

beforeAll(async () => {
  guard = installNetworkGuard();
  const tls = await selfSignedCertificate();
  [aws, gcp, azure] = await Promise.all([
    startAwsSecretsManager({ accessKeyId: awsCredentials.accessKeyId }),
    startGcpSecretManager({ token: gcpToken }),
    startAzureKeyVault({ tls }),
  ]);
  agent = new Agent({ ca: tls.cert, keepAlive: true });
  pool = await pgPool();
});

afterAll(async () => {
  agent.destroy();
  await Promise.all([aws.close(), gcp.close(), azure.close()]);
  for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s)} CASCADE`);
  await pool.end();
  await closeSharedDatabases();
  guard.uninstall();
});

interface ProviderCase {
  kind: 'local' | 'aws' | 'gcp' | 'azure';
  make(): SecretProvider;
  /** The provider's own record of the revoked version (what the cloud would show). */
  revokedNatively(name: string, version: string): unknown | Promise<unknown>;
}

const cases: ProviderCase[] = [
  {
    kind: 'local',
    make: () => {
      const schema = freshSchema('rotsec');
      schemas.push(schema);
      return createLocalProvider({
        key: masterKey().base64,
        storage: createSqlSecretStorage({ sql: sqlFromPgPool(pool), schema }),
      });
    },
    revokedNatively: async (name, version) =>
      (
        (
          await pool.query(
            `SELECT state FROM ${quoteIdent(schemas[schemas.length - 1] as string)}.summit_secret_versions
           WHERE name = $1 AND version = $2`,
            [name, Number(version)],
          )
        ).rows[0] as { state?: string } | undefined
      )?.state,
  },
  {
    kind: 'aws',
    make: () =>
      createAwsProvider({ region: 'us-east-1', endpoint: aws.url, credentials: awsCredentials, maxAttempts: 1 }),
    revokedNatively: (name, version) => aws.stages(name)?.[version],
  },
  {
    kind: 'gcp',
    make: () =>
      createGcpProvider({
        projectId: gcp.projectId,
        apiEndpoint: '127.0.0.1',
        port: gcp.port,
        protocol: 'http',
        accessToken: gcpToken,
        maxRetries: 0,
      }),
    revokedNatively: (name, version) => gcp.states(name)?.[Number(version)],
  },
  {
    kind: 'azure',
    make: () =>
      createAzureProvider({
        vaultUrl: azure.url,
        credential: staticTokenCredential(azure.token),
        disableChallengeResourceVerification: true,
        maxRetries: 0,
        clientOptions: { agent } as never,
      }),
    revokedNatively: (name, version) => azure.versions(name)?.find((v) => v.id === version)?.enabled,
  },
];

const NATIVE_REVOKED: Record<ProviderCase['kind'], unknown> = {
  local: 'disabled',
  aws: [],
  gcp: 'DISABLED',
  azure: false,
};

describe.each(cases)('full rotation on the $kind provider (PostgreSQL store, live client)', (c) => {
  it('old and new both serve during the grace period; configs bumped; the client reloads; the old one is revoked after', async () => {
    const h = await rotationHarness('postgres');
    const provider = countingProvider(c.make());
    const resolver = resolverOf([provider]);
    let client: ConfigClient | undefined;
    try {
      const secret = { provider: provider.name, name: secretName('rot') };
      // Two versions already, so that a reference to `previous` resolves before the rotation too.
      const firstValue = secretText('first');
      await provider.create(secret.name, firstValue);
      const oldValue = secretText('old');
      const v1 = (await provider.write(secret.name, oldValue)).version;
      await provider.promote(secret.name, v1);
      const setup = { ...provider.calls };
      const doc = await h.service.set(
        actors.admin,
        {
          ref: 'app:billing/database',
          config: {
            host: 'db.internal',
            password: { $secret: { ...secret } },
            fallback: { $secret: { ...secret, version: 'previous' } },
          },
        },
        { emergency: true },
      );
      client = await createConfigClient({
        store: h.store,
        app: 'billing',
        environment: 'production',
        secrets: resolver,
        instance: `billing-${c.kind}`,
      });
      expect(client.get('database')).toMatchObject({ password: oldValue, fallback: firstValue });
      const m = h.manager([provider], { resolver });
      const events = recordEvents(m);
      await m.putPolicy(actors.secrets, { secret, intervalDays: 90, graceMs: HOUR });

      let p: RotationPolicy = await m.rotate(actors.secrets, secret);
      expect(p).toMatchObject({ state: 'rotating', step: 'grace' });
      const newVersion = p.run?.newVersion as string;
      const newValue = (await provider.read(secret.name)).value;
      expect((await provider.read(secret.name)).version).toBe(newVersion);
      expect(newValue).not.toBe(oldValue);
      // Both serve during the grace period, by stage and by version id.
      expect((await provider.read(secret.name, 'previous')).value).toBe(oldValue);
      expect((await provider.read(secret.name, { version: v1 })).value).toBe(oldValue);
      expect((await provider.read(secret.name, { version: newVersion })).value).toBe(newValue);

      const bumped = (await h.store.getVersion(parseRef('app:billing/database'))) as ConfigVersion;
      expect(bumped.version).toBe(doc.version + 1);
      expect(bumped.metadata.secretRotation).toEqual({ ...secret, version: newVersion });
      expect(bumped.config).toEqual(doc.config);

      // The client reloads on the bump (PostgreSQL LISTEN/NOTIFY) and acknowledges it.
      await waitFor('the client applied the bump', () => client?.resolve('database').versions.app === bumped.version);
      expect(client.get('database')).toMatchObject({ password: newValue, fallback: oldValue });
      await waitFor('the acknowledgement', async () =>
        ((await h.store.listAcks?.(bumped.ref)) ?? []).some((a) => a.version === bumped.version),
      );

      // Not before the grace period ends, then revoked.
      await m.runDue();
      expect(provider.calls.revoke).toBe(setup.revoke);
      h.clock.advance(HOUR);
      await m.runDue();
      p = (await m.getPolicy(actors.secrets, secret)) as RotationPolicy;
      expect(p).toMatchObject({ state: 'idle', lastRun: { version: newVersion, previousVersion: v1 } });
      expect({
        write: provider.calls.write - setup.write,
        promote: provider.calls.promote - setup.promote,
        revoke: provider.calls.revoke - setup.revoke,
      }).toEqual({ write: 1, promote: 1, revoke: 1 });
      const e = await rejection(provider.read(secret.name, { version: v1 }));
      expect(e).toMatchObject({ code: 'SECRET_PROVIDER', reason: 'revoked', secret: secret.name });
      expect(await c.revokedNatively(secret.name, v1)).toEqual(NATIVE_REVOKED[c.kind]);
      expect((await provider.read(secret.name)).value).toBe(newValue);
      expect(events.map((x) => x.type).filter((t) => t !== 'step')).toEqual([
        'started',
        'written',
        'promoted',
        'bumped',
        'revoked',
        'completed',
      ]);
      const rows = await h.sql<{ state: string; last_rotated_at: Date | null }>(
        `SELECT state, last_rotated_at FROM ${quoteIdent(h.schema as string)}.secret_rotation_policies`,
      );
      expect(rows).toEqual([{ state: 'idle', last_rotated_at: expect.any(Date) }]);
    } finally {
      await client?.close();
      await h.close();
      await resolver.close();
      await provider.close();
    }
    expect(guard.refused).toEqual([]);
  });
});
