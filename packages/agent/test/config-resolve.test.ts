/** `apps[].secrets` in the agent configuration, and the rules an app with `secrets: resolve` brings. */
import { describe, expect, it } from 'vitest';
import { resolveAgentConfig } from '../src/config.js';

const noEnv = {};
/** A master key in the environment: the implicit local provider. */
const keyEnv = { SUMMIT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
const app = (extra: Record<string, unknown> = {}) => ({ app: 'demo', environment: 'prod', ...extra });

function failure(fn: () => unknown): { code?: string; message?: string } {
  try {
    fn();
  } catch (error) {
    return error as { code?: string; message?: string };
  }
  throw new Error('expected a failure');
}

describe('agent config: apps[].secrets', () => {
  it('defaults to refs, for listed apps and for apps only rendered', () => {
    const c = resolveAgentConfig(
      { apps: [app()], render: [{ app: 'other', environment: 'prod', id: 'db', path: '/tmp/x.env' }] },
      noEnv,
    );
    expect(c.apps.map((a) => [a.app, a.secrets])).toEqual([
      ['demo', 'refs'],
      ['other', 'refs'],
    ]);
  });

  it('takes resolve with a token (file or SUMMIT_AGENT_TOKEN) or a socket', () => {
    const withToken = resolveAgentConfig({ http: { token: 't0k' }, apps: [app({ secrets: 'resolve' })] }, keyEnv);
    expect(withToken.apps[0]?.secrets).toBe('resolve');
    const fromEnv = resolveAgentConfig(
      { apps: [app({ secrets: 'resolve' })] },
      { ...keyEnv, SUMMIT_AGENT_TOKEN: 't0k' },
    );
    expect(fromEnv.apps[0]?.secrets).toBe('resolve');
    const onSocket = resolveAgentConfig(
      {
        http: { socket: '/tmp/agent.sock' },
        apps: [app({ secrets: 'resolve' })],
        secrets: { providers: { aws: { region: 'us-east-1' } } },
      },
      noEnv,
    );
    expect(onSocket.apps[0]?.secrets).toBe('resolve');
  });

  it('refuses resolve with no secret provider configured, naming the field and the ways out', () => {
    const e = failure(() => resolveAgentConfig({ http: { token: 't0k' }, apps: [app({ secrets: 'resolve' })] }, noEnv));
    expect(e).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(e.message).toMatch(
      /apps\[0\]\.secrets is resolve, but no secret provider is configured: .*SUMMIT_MASTER_KEY/,
    );
  });

  it('refuses another value, naming the field', () => {
    const e = failure(() => resolveAgentConfig({ apps: [app(), app({ app: 'b', secrets: 'yes' })] }, noEnv));
    expect(e).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(e.message).toMatch(/apps\[1\]\.secrets must be refs or resolve, got "yes"/);
  });

  it('refuses resolve on unauthenticated TCP, naming the field and the ways out', () => {
    const e = failure(() => resolveAgentConfig({ apps: [app(), app({ app: 'b', secrets: 'resolve' })] }, keyEnv));
    expect(e).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(e.message).toMatch(/apps\[1\]\.secrets is resolve, which needs http\.token .* or http\.socket/);
  });

  it('refuses a rendered file of a resolving app that group or others could read', () => {
    const e = failure(() =>
      resolveAgentConfig(
        {
          http: { token: 't0k' },
          apps: [app({ secrets: 'resolve' })],
          render: [
            { app: 'demo', id: 'db', path: '/tmp/a.env' },
            { app: 'demo', id: 'db', path: '/tmp/b.env', mode: '0640' },
          ],
        },
        keyEnv,
      ),
    );
    expect(e).toMatchObject({ code: 'CONSTRAINT_VIOLATION' });
    expect(e.message).toMatch(/render\[1\]\.mode is 0640, but app "demo" resolves secrets/);
    // The same file for an app served as references is fine, and 0400 is private enough.
    const ok = resolveAgentConfig(
      {
        http: { token: 't0k' },
        apps: [app({ secrets: 'resolve' }), app({ app: 'plain' })],
        render: [
          { app: 'plain', id: 'db', path: '/tmp/b.env', mode: '0644' },
          { app: 'demo', id: 'db', path: '/tmp/c.env', mode: '0400' },
        ],
      },
      keyEnv,
    );
    expect(ok.render.map((r) => r.mode)).toEqual([0o644, 0o400]);
  });
});
