import { services } from '@summit-config/test-support/services';
import { describe, expect, it } from 'vitest';

describe('real services started by scripts/services.sh', () => {
  it('Consul: a KV put is read back', async () => {
    const { consulAddr } = services();
    const key = `smoke/${process.pid}-${Date.now()}`;
    const put = await fetch(`${consulAddr}/v1/kv/${key}`, { method: 'PUT', body: 'hello' });
    expect(await put.json()).toBe(true);
    const got = (await (await fetch(`${consulAddr}/v1/kv/${key}`)).json()) as Array<{ Value: string }>;
    expect(Buffer.from(got[0]?.Value ?? '', 'base64').toString()).toBe('hello');
    const version = (await (await fetch(`${consulAddr}/v1/agent/self`)).json()) as { Config: { Version: string } };
    expect(version.Config.Version).toMatch(/^1\./);
    await fetch(`${consulAddr}/v1/kv/${key}`, { method: 'DELETE' });
  });

  it('PostgreSQL: a query runs', async () => {
    const { databaseUrl } = services();
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number; v: string }>('select 41 + 1 as n, current_setting($1) as v', [
        'server_version_num',
      ]);
      expect(rows[0]?.n).toBe(42);
      expect(Number(rows[0]?.v)).toBeGreaterThanOrEqual(150000);
    } finally {
      await client.end();
    }
  });
});
