import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { createMemoryStore } from '@summit-config/backends/memory';
import { appendNext, createConfigClient, type JsonObject } from '@summit-config/core';
import { clientFlagSource, createSummitFlagProvider } from '@summit-config/core/openfeature';
import { groupThenRampFlag } from '@summit-config/test-support/builders';
import { describe, expect, it } from 'vitest';

describe('OpenFeature provider on a live config client', () => {
  it('evaluates the flags of a config through the OpenFeature API and emits changes', async () => {
    const store = createMemoryStore();
    const ref = 'app:shop/features';
    const flags = (rampBps: number): JsonObject => ({
      flags: {
        'dark-mode': true,
        'new-checkout': groupThenRampFlag('staff', rampBps),
        theme: { variants: { light: 'light', dark: 'dark' }, defaultVariant: 'light' },
      },
    });
    await appendNext(store, { ref, config: {}, rollout: flags(0), createdBy: 't' });
    const client = await createConfigClient({ store, app: 'shop', environment: 'production' });
    const domain = `summit-${Math.random()}`;
    await OpenFeature.setProviderAndWait(domain, createSummitFlagProvider(clientFlagSource(client, 'features')));
    const of = OpenFeature.getClient(domain);

    expect(await of.getBooleanDetails('dark-mode', false)).toMatchObject({ value: true, reason: 'STATIC' });
    expect(await of.getBooleanDetails('new-checkout', false, { targetingKey: 'u1', groups: ['staff'] })).toMatchObject({
      value: true,
      variant: 'on',
      reason: 'TARGETING_MATCH',
    });
    expect(await of.getBooleanDetails('new-checkout', false, { targetingKey: 'u1' })).toMatchObject({
      value: false,
      reason: 'DEFAULT',
    });
    expect(await of.getStringDetails('theme', 'x')).toMatchObject({ value: 'light', variant: 'light' });
    expect(await of.getBooleanDetails('no-such-flag', false)).toMatchObject({
      value: false,
      reason: 'ERROR',
      errorCode: 'FLAG_NOT_FOUND',
    });

    const changed = new Promise<unknown>((resolve) => of.addHandler(ProviderEvents.ConfigurationChanged, resolve));
    await appendNext(store, { ref, config: {}, rollout: flags(10_000), createdBy: 't' });
    expect(await changed).toMatchObject({ flagsChanged: ['new-checkout'] });
    expect(await of.getBooleanDetails('new-checkout', false, { targetingKey: 'u1' })).toMatchObject({ value: true });
    await OpenFeature.clearProviders();
    await client.close();
  });
});
