/**
 * Consul over TLS with client certificates: a third dev agent of the services script
 * (`scripts/services.sh consul-tls up DIR`) serving HTTPS with `verify_incoming_https`, on
 * certificates this file makes with openssl (a CA, the server's, a client's, and a client
 * certificate from a CA Consul does not know). TLS is configured through the store's options,
 * `stores.consul.tls` and Consul's CLI variables; every TLS failure is BACKEND_UNAVAILABLE naming it,
 * and the agent counts it (`summit_agent_store_tls_errors_total`) when it takes Consul out of service.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ConsulStore, type ConsulStoreOptions, createConsulStore } from '@summit-config/backends/consul';
import { appendNext, type ConfigError, isConfigError, parseRef } from '@summit-config/core';
import { doc } from '@summit-config/test-support/contract/store-contract';
import { repoRoot, services } from '@summit-config/test-support/services';
import { until } from '@summit-config/test-support/wait';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../packages/agent/src/agent.js';
import { resolveAgentConfig } from '../../packages/agent/src/config.js';
import { openRuntime } from '../../packages/agent/src/runtime.js';
import { runIn } from '../../packages/agent/test/cli-harness.js';

const run = promisify(execFile);
const script = join(repoRoot, 'scripts', 'services.sh');

let dir = '';
let addr = '';
const file = (name: string) => join(dir, name);
const pem: Record<string, Buffer> = {};

/** Runs openssl in the certificates' directory. */
async function openssl(...args: string[]): Promise<void> {
  await run('openssl', args, { cwd: dir, timeout: 30_000 });
}
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
/** A CA: `<name>.pem` and `<name>-key.pem`. */
async function makeCa(name: string): Promise<void> {
  await openssl(
    ...['req', '-x509', ...EC, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2'],
    ...['-subj', `/CN=summit test ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE'],
    ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  );
}
/** A certificate `ca` signs, with the extensions `ext`: `<name>.pem` and `<name>-key.pem`. */
async function makeCert(name: string, ca: string, ext: string): Promise<void> {
  await writeFile(file(`${name}.ext`), ext);
  await openssl('req', ...EC, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  await openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}-key.pem`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  );
}

const opened: ConsulStore[] = [];
function open(options: ConsulStoreOptions = {}): ConsulStore {
  const store = createConsulStore({
    address: addr,
    prefix: `tls-${Math.random().toString(36).slice(2, 10)}/`,
    ...options,
  });
  opened.push(store);
  return store;
}
const trusted = () => ({ ca: pem.ca, cert: pem.client, key: pem['client-key'] });

async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isConfigError(error), String(error)).toBe(true);
  return error as ConfigError;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'summit-consul-tls-'));
  await makeCa('ca');
  await makeCa('rogue-ca');
  await makeCert(
    'server',
    'ca',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:server.dc1.consul\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  await makeCert('client', 'ca', 'extendedKeyUsage=clientAuth\n');
  await makeCert('rogue-client', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  for (const name of ['ca', 'client', 'client-key', 'rogue-client', 'rogue-client-key']) {
    pem[name] = await readFile(file(`${name}.pem`));
  }
  await run('sh', [script, 'consul-tls', 'up', dir], { timeout: 60_000 });
  const { stdout } = await run('sh', [script, 'consul-tls', 'env']);
  addr = /SUMMIT_CONSUL_TLS_ADDR=(\S+)/.exec(stdout)?.[1] ?? '';
  expect(addr).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await run('sh', [script, 'consul-tls', 'down'], { timeout: 60_000 });
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Consul over TLS with client certificates', () => {
  const ref = parseRef('app:tls/database');

  it('works with the CA, a client certificate and its key', async () => {
    const store = open({ tls: trusted() });
    await store.ping();
    await store.append(doc(ref, 1, { host: 'db' }));
    expect((await store.listHeads()).map((h) => h.ref)).toEqual([ref]);
    expect((await store.getHead(ref))?.version).toBe(1);
  });

  it('an unknown CA, a missing or foreign client certificate and a wrong name are BACKEND_UNAVAILABLE naming TLS', async () => {
    const noCa = await rejection(open({ tls: { cert: pem.client, key: pem['client-key'] } }).ping());
    expect(noCa.code).toBe('BACKEND_UNAVAILABLE');
    expect(noCa.message).toMatch(
      /TLS with https:\/\/127\.0\.0\.1:\d+ failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
    );
    expect((noCa.cause as Error).name).toBe('ConsulTlsError');

    const noClientCert = await rejection(open({ tls: { ca: pem.ca } }).listHeads());
    expect(noClientCert.code).toBe('BACKEND_UNAVAILABLE');
    expect(noClientCert.message).toMatch(/TLS with https:\/\/127\.0\.0\.1:\d+ failed \(/);

    const foreign = await rejection(
      open({ tls: { ca: pem.ca, cert: pem['rogue-client'], key: pem['rogue-client-key'] } }).ping(),
    );
    expect(foreign.code).toBe('BACKEND_UNAVAILABLE');
    expect(foreign.message).toMatch(/TLS with https:\/\/127\.0\.0\.1:\d+ failed \(/);

    const wrongName = await rejection(open({ tls: { ...trusted(), servername: 'consul.elsewhere' } }).ping());
    expect(wrongName.code).toBe('BACKEND_UNAVAILABLE');
    expect(wrongName.message).toMatch(/TLS with .* failed \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    // The name the certificate carries, given explicitly, passes.
    await open({ tls: { ...trusted(), servername: 'server.dc1.consul' } }).ping();
  });

  it('the agent configuration takes stores.consul.tls and Consul CLI variables; the CLI too', async () => {
    const prefix = `tls-cfg-${Math.random().toString(36).slice(2, 8)}/`;
    const fromFile = resolveAgentConfig(
      {
        stores: {
          consul: {
            address: addr,
            prefix,
            tls: { caFile: file('ca.pem'), certFile: file('client.pem'), keyFile: file('client-key.pem') },
          },
        },
        apps: [],
      },
      {},
    );
    expect(fromFile.stores.consul?.tls).toEqual({
      caFile: file('ca.pem'),
      certFile: file('client.pem'),
      keyFile: file('client-key.pem'),
      serverName: undefined,
      verify: true,
    });
    const env = {
      CONSUL_HTTP_ADDR: addr,
      CONSUL_CACERT: file('ca.pem'),
      CONSUL_CLIENT_CERT: file('client.pem'),
      CONSUL_CLIENT_KEY: file('client-key.pem'),
      CONSUL_TLS_SERVER_NAME: 'server.dc1.consul',
      SUMMIT_CONSUL_PREFIX: prefix,
    };
    const fromEnv = resolveAgentConfig({ apps: [] }, env);
    expect(fromEnv.stores.consul).toMatchObject({
      address: addr,
      tls: { serverName: 'server.dc1.consul', verify: true },
    });
    for (const config of [fromFile, fromEnv]) {
      const runtime = await openRuntime(config, { role: 'agent' });
      try {
        await runtime.primary.ping();
        await appendNext(runtime.store, { ref: 'global/tls', config: { n: 1 }, createdBy: 'tls-test' });
      } finally {
        await runtime.close();
      }
    }
    // Refused: a client certificate without its key, TLS for an http:// address.
    expect(() =>
      resolveAgentConfig({ stores: { consul: { address: addr, tls: { certFile: file('client.pem') } } } }, {}),
    ).toThrow(/stores\.consul\.tls\.keyFile/);
    expect(() =>
      resolveAgentConfig(
        { stores: { consul: { address: 'http://127.0.0.1:1', tls: { caFile: file('ca.pem') } } } },
        {},
      ),
    ).toThrow(/stores\.consul\.tls.*https:\/\//);

    // The CLI reads the same variables.
    await writeFile(
      file('rbac.yaml'),
      `roles:\n  operator: ['*']\nbindings:\n  - users: [${userInfo().username}]\n    roles: [operator]\n`,
    );
    const listed = await runIn(
      {
        PATH: process.env.PATH,
        ...env,
        DATABASE_URL: services().databaseUrl,
        SUMMIT_PG_SCHEMA: `tls_${Math.random().toString(36).slice(2, 8)}`,
        SUMMIT_RBAC_FILE: file('rbac.yaml'),
      },
      ['list', '--json'],
      { actor: userInfo().username },
    );
    expect(listed.code, listed.stderr).toBe(0);
  });

  it('the agent logs a TLS failure and counts it in summit_agent_store_tls_errors_total', async () => {
    const warnings: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
    const logger = { warn: (obj: object, msg?: string) => warnings.push({ obj: obj as Record<string, unknown>, msg }) };
    const config = resolveAgentConfig(
      {
        http: { port: 0 },
        snapshotDir: join(dir, 'snapshots'),
        drift: { enabled: false },
        reconcile: { intervalMs: 0 },
        // The CA but no client certificate: Consul refuses the handshake; PostgreSQL serves.
        stores: {
          consul: {
            address: addr,
            prefix: `tls-agent-${Math.random().toString(36).slice(2, 8)}/`,
            tls: { caFile: file('ca.pem') },
          },
          postgres: { url: services().databaseUrl, schema: `tls_${Math.random().toString(36).slice(2, 8)}` },
        },
        apps: [{ app: 'billing', environment: 'prod' }],
      },
      {},
    );
    const agent = new Agent({ config, logger });
    try {
      await agent.start();
      await until(
        async () =>
          /^summit_agent_store_tls_errors_total\{tier="consul"\} [1-9]/m.test(await agent.metrics.registry.metrics()),
        'the TLS error metric',
      );
      const line = warnings.find((w) => w.msg === 'store tier breaker: TLS failure');
      expect(line?.obj).toMatchObject({ tier: 'consul', to: 'open' });
      expect(String(line?.obj.tls)).toMatch(/TLS with https:\/\/127\.0\.0\.1:\d+ failed/);
    } finally {
      await agent.close();
    }
  });
});
