/**
 * A direct write checks against environments kept for a moment: the service's own environment
 * changes are seen at once, and an environment another writer created is read again when a write
 * names it.
 */
import { createMemoryGovernance, createMemoryStore } from '@summit-config/backends/memory';
import { createConfigService, createRbac } from '@summit-config/core';
import { afterEach, describe, expect, it } from 'vitest';

const admin = { id: 'admin', roles: ['config-admin'] };
const services: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
});

function setup() {
  const store = createMemoryStore();
  const governance = createMemoryGovernance();
  let reads = 0;
  const counted = new Proxy(governance, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === 'listEnvironments') {
        return async () => {
          reads++;
          return (value as () => Promise<unknown>).call(target);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const service = createConfigService({
    store,
    governance: counted,
    rbac: createRbac({}),
    environments: [{ name: 'dev', production: false }],
  });
  services.push(service, store);
  return { service, governance, reads: () => reads };
}

describe('environments kept by the change service', () => {
  it('does not read the environments on every set', async () => {
    const { service, reads } = setup();
    await service.set(admin, { ref: 'global/a', config: { x: 1 } });
    const before = reads();
    for (let i = 2; i < 7; i++) await service.set(admin, { ref: 'global/a', config: { x: i } });
    expect(reads() - before).toBeLessThanOrEqual(1);
  });

  it("sees the service's own new environment at once", async () => {
    const { service } = setup();
    await service.set(admin, { ref: 'global/a', config: { x: 1 } });
    await service.createEnvironment(admin, { name: 'qa', production: false, parent: 'dev' });
    const v = await service.set(admin, { ref: 'global/a', config: { x: 2 }, overrides: { qa: { x: 3 } } });
    expect(v.version).toBe(2);
  });

  it('reads them again when a write names an environment it does not know', async () => {
    const { service, governance } = setup();
    await service.set(admin, { ref: 'global/a', config: { x: 1 } });
    // Another process creates an environment.
    await governance.updateEnvironments(() => ({ value: [{ name: 'perf', production: false }] }));
    const v = await service.set(admin, { ref: 'global/a', config: { x: 2 }, overrides: { perf: { x: 3 } } });
    expect(v.version).toBe(2);
    await expect(
      service.set(admin, { ref: 'global/a', config: { x: 2 }, overrides: { nowhere: { x: 3 } } }),
    ).rejects.toMatchObject({ code: 'ENVIRONMENT_NOT_FOUND' });
  });

  it('still refuses a stale expectedVersion with VERSION_CONFLICT', async () => {
    const { service } = setup();
    await service.set(admin, { ref: 'global/a', config: { x: 1 } });
    await service.set(admin, { ref: 'global/a', config: { x: 2 } });
    await expect(
      service.set(admin, { ref: 'global/a', config: { x: 3 } }, { expectedVersion: 1 }),
    ).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
  });
});
