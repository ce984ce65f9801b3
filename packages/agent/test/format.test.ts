import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDirs } from '@summit-config/test-support/temp';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { quoteEnvValue, renderConfig, renderEnv } from '../src/format.js';

const run = promisify(execFile);

const tempDir = tempDirs();

describe('rendered formats', () => {
  const value = {
    database: { host: 'db', port: 5432, 'max-idle.ms': 1000, tls: { enabled: true } },
    tags: ['a', 'b'],
    note: null,
    empty: {},
  };

  it('writes JSON and YAML that parse back to the value', () => {
    expect(JSON.parse(renderConfig(value, 'json'))).toEqual(value);
    expect(parseYaml(renderConfig(value, 'yaml'))).toEqual(value);
  });

  it('flattens to KEY_SUB=value for .env, sorted, with a prefix', () => {
    expect(renderEnv(value, 'APP_')).toBe(
      [
        'APP_DATABASE_HOST="db"',
        'APP_DATABASE_MAX_IDLE_MS=1000',
        'APP_DATABASE_PORT=5432',
        'APP_DATABASE_TLS_ENABLED=true',
        'APP_EMPTY=',
        'APP_NOTE=',
        'APP_TAGS="[\\"a\\",\\"b\\"]"',
        '',
      ].join('\n'),
    );
    expect(renderEnv({ '1st': 1 })).toBe('_1ST=1\n');
  });

  it('refuses two keys that flatten to the same name', () => {
    expect(() => renderEnv({ a: { b: 1 }, a_b: 2 })).toThrow(/\/a\/b and \/a_b both become A_B/);
  });

  it('quotes strings so that a shell reads them back verbatim and runs nothing', async () => {
    const nasty = "x\"; touch /tmp/pwned-$$; echo `id` $(id) \\ 'q' end";
    const dir = await tempDir('agent-env-');
    const file = join(dir, 'a.env');
    await writeFile(file, `VALUE=${quoteEnvValue(nasty)}\n`);
    const { stdout } = await run('/bin/sh', ['-c', `. "${file}"; printf '%s' "$VALUE"`]);
    expect(stdout).toBe(nasty);
    expect(quoteEnvValue('line1\nline2\t\u0001')).toBe('"line1\\nline2\\t\\x01"');
  });
});
