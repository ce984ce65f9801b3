/**
 * The secret commands' provider and rotation manager over the config server's `/api/v1/secrets`
 * (remote mode): versions and rotation policies as metadata, policies written, rotations started.
 * A value never crosses the API, so `secret create` is refused here (run it where the master key is).
 */
import { isConfigError } from '@summit-config/core';
import type { RotationPolicy, RotationPolicyInput, SecretVersionInfo } from '@summit-config/secrets';
import type { SecretsSession } from '../context.js';
import type { ApiClient } from './api.js';
import { notRemote } from './service.js';

/** How often `secret rotate --wait` asks for the run's state, ms. */
const WAIT_POLL_MS = 1000;

/**
 * The secret commands' session over the server; `provider` (`--provider`) goes as `?provider=`,
 * omitted: the server's default provider.
 */
export function remoteSecrets(api: ApiClient, provider?: string): SecretsSession {
  const query = provider === undefined ? '' : `?provider=${encodeURIComponent(provider)}`;
  const path = (name: string, tail = '') => `/api/v1/secrets/${encodeURIComponent(name)}${tail}${query}`;
  /** The policy, or undefined when the secret has none (a provider the server lacks is an error). */
  const getPolicy = async (name: string) => {
    try {
      return await api.request<RotationPolicy>('GET', path(name, '/rotation'));
    } catch (error) {
      if (isConfigError(error, 'NOT_FOUND') && !/^no secret provider /.test(error.message)) return undefined;
      throw error;
    }
  };
  const rotate = async (
    name: string,
    body: { retry?: boolean; force?: boolean },
    options: { wait?: boolean; signal?: AbortSignal | undefined },
  ): Promise<RotationPolicy> => {
    let policy = await api.request<RotationPolicy>('POST', path(name, '/rotate'), {
      body,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    // --wait: the server's run goes on; follow it until it completes or fails.
    while (options.wait && policy.state === 'rotating' && !options.signal?.aborted) {
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
      policy = (await getPolicy(name)) ?? policy;
    }
    return policy;
  };
  return {
    provider: {
      async create() {
        return notRemote('creating a secret (a value never crosses the API)');
      },
      async listVersions(name) {
        const found = await api.request<{ versions: SecretVersionInfo[] }>('GET', path(name));
        return found.versions;
      },
    },
    rotation: {
      getPolicy: (_actor, secret) => getPolicy(secret.name),
      async putPolicy(_actor, input: RotationPolicyInput) {
        const { secret, ...body } = input;
        return api.request<RotationPolicy>('PUT', path(secret.name, '/rotation'), { body });
      },
      async listPolicies() {
        const { items } = await api.request<{ items: Array<{ rotation?: RotationPolicy }> }>(
          'GET',
          `/api/v1/secrets${query}`,
        );
        return items.flatMap((i) => (i.rotation ? [i.rotation] : []));
      },
      rotate: (_actor, secret, options = {}) => rotate(secret.name, options.force ? { force: true } : {}, options),
      retry: (_actor, secret, options = {}) => rotate(secret.name, { retry: true }, options),
      // Step events happen on the server; the CLI shows the result.
      on: () => () => {},
    },
    async listNames() {
      const { items } = await api.request<{ items: Array<{ name: string }> }>('GET', `/api/v1/secrets${query}`);
      return items.map((i) => i.name).sort();
    },
  };
}
