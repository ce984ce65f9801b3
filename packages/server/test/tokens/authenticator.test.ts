/**
 * The API token authenticator: what it returns for a live token, what it leaves to another
 * authenticator, what it refuses (and that a refusal never echoes the secret).
 */
import { isConfigError } from '@summit-config/core';
import { describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../src/auth.js';
import { createMemoryTokenStore, createTokenAuthenticator, type TokenStore } from '../../src/tokens/index.js';

const request = (authorization: string | undefined): AuthRequest => ({
  authorization,
  remoteAddress: '127.0.0.1',
  userAgent: 'test',
});

async function refusal(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isConfigError(error, 'ACCESS_DENIED'), String(error)).toBe(true);
  return error as Error;
}

function setup(now: () => number = Date.now) {
  const store = createMemoryTokenStore({ now });
  return { store, authenticate: createTokenAuthenticator(store) };
}

describe('createTokenAuthenticator', () => {
  it('turns Bearer sct_... into the owner as a token principal with the token roles', async () => {
    const { store, authenticate } = setup();
    const { token, record } = await store.create({ name: 'ci', owner: 'svc:ci', roles: ['config-reader', 'deployer'] });
    const expected = {
      actor: { id: 'svc:ci', roles: ['config-reader', 'deployer'], kind: 'token', credential: `token:${record.id}` },
      method: 'token',
      tokenId: record.id,
    };
    expect(await authenticate(request(`Bearer ${token}`))).toEqual(expected);
    // The scheme is case-insensitive; extra spaces around the credential are tolerated.
    expect(await authenticate(request(`bearer  ${token} `))).toEqual(expected);
    expect(await authenticate(request(`BEARER ${token}`))).toEqual(expected);
  });

  it('leaves requests without an API token to other authenticators', async () => {
    const { authenticate } = setup();
    for (const header of [
      undefined,
      '',
      'Basic dXNlcjpwYXNz',
      'Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig',
      'Bearer ',
      'Bearer',
      'Token sct_abc',
      'sct_aaaaaaaaaaaa_x',
    ]) {
      expect(await authenticate(request(header)), String(header)).toBeUndefined();
    }
  });

  it('refuses a malformed, unknown, revoked or expired API token, never echoing the secret', async () => {
    let t = Date.now();
    const { store, authenticate } = setup(() => t);
    const live = await store.create({ name: 'a', owner: 'alice', roles: ['config-reader'] });
    const revoked = await store.create({ name: 'b', owner: 'alice', roles: ['config-reader'] });
    await store.revoke(revoked.record.id, 'admin');
    const expiring = await store.create({
      name: 'c',
      owner: 'alice',
      roles: ['config-reader'],
      expiresAt: new Date(t + 1000),
    });
    const secretOf = (token: string) => token.slice(-43);
    const unknown = `sct_${'b'.repeat(12)}_${secretOf(live.token)}`;
    const wrongSecret = `sct_${live.record.id}_${'Q'.repeat(43)}`;
    const cases: Array<[string, string]> = [
      ['malformed', 'sct_short'],
      ['malformed with the secret', `sct_${live.record.id}_${secretOf(live.token)}extra`],
      ['malformed id', `sct_${'A'.repeat(12)}_${secretOf(live.token)}`],
      ['unknown', unknown],
      ['wrong secret', wrongSecret],
      ['revoked', revoked.token],
    ];
    for (const [what, token] of cases) {
      const error = await refusal(authenticate(request(`Bearer ${token}`)));
      expect(error.message, what).not.toContain(secretOf(token));
      expect(error.message, what).not.toContain(secretOf(live.token));
      expect(JSON.stringify(error), what).not.toContain(secretOf(token));
    }
    expect((await authenticate(request(`Bearer ${expiring.token}`)))?.tokenId).toBe(expiring.record.id);
    t += 1000;
    const error = await refusal(authenticate(request(`Bearer ${expiring.token}`)));
    expect(error.message).toContain(expiring.record.id);
    expect(error.message).not.toContain(secretOf(expiring.token));
    // The live token still works; a revocation holds from the next request.
    expect((await authenticate(request(`Bearer ${live.token}`)))?.actor.id).toBe('alice');
    await store.revoke(live.record.id, 'admin');
    await refusal(authenticate(request(`Bearer ${live.token}`)));
  });

  it('lets a store failure through (an outage is not a refusal)', async () => {
    const failing = {
      ...createMemoryTokenStore(),
      verify: async () => {
        throw Object.assign(new Error('down'), { code: 'BACKEND_UNAVAILABLE' });
      },
    } as TokenStore;
    const authenticate = createTokenAuthenticator(failing);
    const error = await authenticate(request(`Bearer sct_${'a'.repeat(12)}_${'A'.repeat(43)}`)).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ message: 'down' });
  });

  it('needs a token store', () => {
    expect(() => createTokenAuthenticator(undefined as never)).toThrow(/TokenStore/);
  });
});
