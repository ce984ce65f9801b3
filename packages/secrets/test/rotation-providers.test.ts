/**
 * A full rotation on every provider: local (AES-GCM versions in PostgreSQL), aws, gcp, azure
 * through their real SDKs against the wire-protocol fakes on 127.0.0.1 (as the provider tests do),
 * and vault (fetch) against the fake of Vault's HTTP API.
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
import { createVaultProvider } from '@summit-config/secrets/vault';
import { masterKey } from '@summit-config/test-support/builders';
import { type AwsFake, startAwsSecretsManager } from '@summit-config/test-support/fakes/aws-secrets-manager';
import { type AzureFake, startAzureKeyVault } from '@summit-config/test-support/fakes/azure-key-vault';
import { offlineClouds } from '@summit-config/test-support/fakes/clouds';
import { type GcpFake, startGcpSecretManager } from '@summit-config/test-support/fakes/gcp-secret-manager';
import { selfSignedCertificate } from '@summit-config/test-support/fakes/tls';
import { startVaultServer, type VaultFake } from '@summit-config/test-support/fakes/vault';
import {
  actors,
  countingProvider,
  RUN_EVENTS,
  recordEvents,
  resolverOf,
  rotationHarness,
} from '@summit-config/test-support/rotation';
import { adminPool, freshSchema, q, schemasToDrop } from '@summit-config/test-support/sql';
import { slowly, until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';
import { rejection, secretName, secretText } from './provider-contract.js';

const HOUR = 3_600_000;
const awsCredentials = { accessKeyId: 'AKIDSUMMITFAKE0001', secretAccessKey: 'fake-secret-access-key' };
const gcpToken = 'ya29.summit-fake-token';
const vaultRole = { roleId: 'summit-rotation', secretId: 'summit-rotation-secret-id' };
let aws: AwsFake;
let gcp: GcpFake;
let azure: AzureFake;
let vault: VaultFake;
let agent: Agent;
const schemas = schemasToDrop();
const pool = adminPool();

const guard = offlineClouds(async () => {
  const tls = await selfSignedCertificate();
  [aws, gcp, azure, vault] = await Promise.all([
    startAwsSecretsManager({ accessKeyId: awsCredentials.accessKeyId }),
    startGcpSecretManager({ token: gcpToken }),
    startAzureKeyVault({ tls }),
    startVaultServer({ appRole: vaultRole }),
  ]);
  agent = new Agent({ ca: tls.cert, keepAlive: true });
  return [{ close: () => agent.destroy() }, aws, gcp, azure, vault];
});

interface ProviderCase {
  kind: 'local' | 'aws' | 'gcp' | 'azure' | 'vault';
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
            `SELECT state FROM ${q(schemas[schemas.length - 1] as string)}.summit_secret_versions
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
  {
    kind: 'vault',
    make: () => createVaultProvider({ address: vault.url, appRole: vaultRole, maxRetries: 0 }),
    // Soft-deleted (revoke), not destroyed.
    revokedNatively: (name, version) => vault.versions(name)?.find((v) => v.version === Number(version)),
  },
];

const NATIVE_REVOKED: Record<ProviderCase['kind'], unknown> = {
  local: 'disabled',
  aws: [],
  gcp: 'DISABLED',
  azure: false,
  vault: { version: 2, deleted: true, destroyed: false },
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
      await until(
        () => client?.resolve('database').versions.app === bumped.version,
        'the client applied the bump',
        slowly,
      );
      expect(client.get('database')).toMatchObject({ password: newValue, fallback: oldValue });
      await until(
        async () => ((await h.store.listAcks?.(bumped.ref)) ?? []).some((a) => a.version === bumped.version),
        'the acknowledgement',
        slowly,
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
      expect(events.map((x) => x.type).filter((t) => t !== 'step')).toEqual(RUN_EVENTS);
      const rows = await h.sql<{ state: string; last_rotated_at: Date | null }>(
        `SELECT state, last_rotated_at FROM ${q(h.schema as string)}.secret_rotation_policies`,
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
