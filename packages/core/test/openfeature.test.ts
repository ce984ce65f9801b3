import { ErrorCode, type EventDetails, OpenFeature, ProviderEvents, ProviderStatus } from '@openfeature/server-sdk';
import { evenSplit, groupThenRampFlag } from '@summit-config/test-support/builders';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileRollout, evaluateFlag, flagSetOf, type RolloutSpec } from '../src/index.js';
import { createSummitFlagProvider, type FlagSource, MutableFlagSource } from '../src/openfeature/provider.js';

const spec: RolloutSpec = {
  seed: 'of',
  flags: {
    'dark-mode': true,
    'new-checkout': groupThenRampFlag('staff', 3000),
    'legacy-api': { enabled: false, variants: { on: true, off: false }, defaultVariant: 'on', offVariant: 'off' },
    theme: {
      variants: { light: 'light', dark: 'dark' },
      defaultVariant: 'light',
      rules: [{ id: 'ab', split: evenSplit('light', 'dark') }],
    },
    'max-items': {
      variants: { few: 10, many: 100 },
      defaultVariant: 'few',
      rules: [
        { id: 'pro', when: { constraints: [{ attribute: 'plan', operator: 'eq', value: 'pro' }] }, variant: 'many' },
      ],
    },
    limits: { variants: { std: { rps: 10, burst: 20 } }, defaultVariant: 'std' },
  },
};

const silent = { error() {}, warn() {}, info() {}, debug() {} };
let counter = 0;

async function setup(source: FlagSource = new MutableFlagSource(flagSetOf(compileRollout(spec)))) {
  const domain = `summit-${++counter}`;
  const provider = createSummitFlagProvider(source);
  await OpenFeature.setProviderAndWait(domain, provider);
  return { client: OpenFeature.getClient(domain), provider, source };
}

function nextEvent(
  client: ReturnType<typeof OpenFeature.getClient>,
  event: ProviderEvents,
): Promise<EventDetails | undefined> {
  return new Promise((resolve) => {
    const handler = (details?: EventDetails) => {
      client.removeHandler(event, handler);
      resolve(details);
    };
    client.addHandler(event, handler);
  });
}

beforeAll(() => {
  OpenFeature.setLogger(silent);
});

afterAll(async () => {
  await OpenFeature.close();
});

describe('OpenFeature provider through the real SDK', () => {
  it('boolean: STATIC, TARGETING_MATCH, SPLIT, DEFAULT and DISABLED with variants', async () => {
    const { client } = await setup();
    expect(client.providerStatus).toBe(ProviderStatus.READY);
    expect(await client.getBooleanDetails('dark-mode', false)).toMatchObject({
      flagKey: 'dark-mode',
      value: true,
      variant: 'on',
      reason: 'STATIC',
    });
    expect(
      await client.getBooleanDetails('new-checkout', false, { targetingKey: 'x', groups: ['staff'] }),
    ).toMatchObject({
      value: true,
      variant: 'on',
      reason: 'TARGETING_MATCH',
      flagMetadata: { ruleId: 'staff' },
    });
    const reasons = new Map<string, boolean>();
    for (let i = 0; i < 200; i++) {
      const d = await client.getBooleanDetails('new-checkout', false, { targetingKey: `user-${i}` });
      reasons.set(d.reason as string, d.value);
    }
    expect(reasons.get('SPLIT')).toBe(true);
    expect(reasons.get('DEFAULT')).toBe(false);
    expect(await client.getBooleanDetails('legacy-api', true)).toMatchObject({
      value: false,
      variant: 'off',
      reason: 'DISABLED',
    });
    expect(await client.getBooleanValue('dark-mode', false)).toBe(true);
  });

  it('the targeting key buckets exactly like the engine does', async () => {
    const { client } = await setup();
    const compiled = compileRollout(spec);
    for (let i = 0; i < 50; i++) {
      const d = await client.getBooleanDetails('new-checkout', false, { targetingKey: `user-${i}` });
      const direct = evaluateFlag(compiled, 'new-checkout', { userId: `user-${i}` });
      expect([d.value, d.variant, d.reason]).toEqual([direct?.value, direct?.variant, direct?.reason]);
    }
  });

  it('string, number and object flags', async () => {
    const { client } = await setup();
    const themes = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const d = await client.getStringDetails('theme', 'none', { targetingKey: `u${i}` });
      expect(d.reason).toBe('SPLIT');
      themes.add(d.value);
    }
    expect(themes).toEqual(new Set(['light', 'dark']));
    expect(await client.getNumberDetails('max-items', 0, { targetingKey: 'u', plan: 'pro' })).toMatchObject({
      value: 100,
      variant: 'many',
      reason: 'TARGETING_MATCH',
    });
    expect(await client.getNumberDetails('max-items', 0, { targetingKey: 'u' })).toMatchObject({
      value: 10,
      reason: 'DEFAULT',
    });
    expect(await client.getObjectDetails('limits', {})).toMatchObject({
      value: { rps: 10, burst: 20 },
      variant: 'std',
      reason: 'STATIC',
    });
  });

  it('unknown flags and wrong types give the default value with ERROR', async () => {
    const { client } = await setup();
    expect(await client.getBooleanDetails('ghost', true)).toMatchObject({
      value: true,
      reason: 'ERROR',
      errorCode: ErrorCode.FLAG_NOT_FOUND,
    });
    expect(await client.getStringDetails('dark-mode', 'fallback')).toMatchObject({
      value: 'fallback',
      reason: 'ERROR',
      errorCode: ErrorCode.TYPE_MISMATCH,
    });
    expect(await client.getNumberDetails('theme', 7)).toMatchObject({ value: 7, errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it('emits ConfigurationChanged with the flags that changed', async () => {
    const source = new MutableFlagSource(flagSetOf(compileRollout(spec)));
    const { client } = await setup(source);
    const changed = nextEvent(client, ProviderEvents.ConfigurationChanged);
    const next = structuredClone(spec);
    next.flags = { ...next.flags, 'dark-mode': false, added: true };
    source.update(flagSetOf(compileRollout(next)));
    expect((await changed)?.flagsChanged).toEqual(['added', 'dark-mode']);
    expect(await client.getBooleanDetails('dark-mode', true)).toMatchObject({ value: false, reason: 'STATIC' });
  });

  it('reports STALE while the source is stale, with Stale and Ready events', async () => {
    const source = new MutableFlagSource(flagSetOf(compileRollout(spec)));
    const { client } = await setup(source);
    const stale = nextEvent(client, ProviderEvents.Stale);
    source.setStale(true);
    await stale;
    expect(client.providerStatus).toBe(ProviderStatus.STALE);
    expect(await client.getBooleanDetails('dark-mode', false)).toMatchObject({
      value: true,
      variant: 'on',
      reason: 'STALE',
      flagMetadata: { stale: true, ruleReason: 'STATIC' },
    });
    const ready = nextEvent(client, ProviderEvents.Ready);
    source.setStale(false);
    await ready;
    expect(client.providerStatus).toBe(ProviderStatus.READY);
    expect((await client.getBooleanDetails('dark-mode', false)).reason).toBe('STATIC');
  });

  it('initialize waits for the source to be ready', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const inner = new MutableFlagSource(flagSetOf(compileRollout(spec)));
    const source: FlagSource = {
      getFlags: () => inner.getFlags(),
      get stale() {
        return inner.stale;
      },
      onChange: (l) => inner.onChange(l),
      ready: () => gate,
    };
    const domain = `summit-${++counter}`;
    let settled = false;
    const setting = OpenFeature.setProviderAndWait(domain, createSummitFlagProvider(source)).then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    expect(OpenFeature.getClient(domain).providerStatus).toBe(ProviderStatus.NOT_READY);
    release();
    await setting;
    expect(OpenFeature.getClient(domain).providerStatus).toBe(ProviderStatus.READY);
  });

  it('stops listening to the source when closed', async () => {
    const source = new MutableFlagSource(flagSetOf(compileRollout(spec)));
    const { provider } = await setup(source);
    let events = 0;
    provider.events.addHandler(ProviderEvents.ConfigurationChanged, () => {
      events++;
    });
    source.update(flagSetOf(compileRollout({ flags: { a: true } })));
    expect(events).toBe(1); // provider events are emitted synchronously
    await provider.onClose();
    source.update(flagSetOf(compileRollout({ flags: { b: true } })));
    expect(events).toBe(1);
  });
});
