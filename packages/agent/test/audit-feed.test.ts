/**
 * The audit follower over the embedded store's real audit trail and cursor table: a new subscriber
 * starts at the head; each event is handed once, in order; a failing handler stops its subscriber
 * without moving its cursor (the event comes again at the next poll) while the others go on; a new
 * term (reset) resumes from the saved cursor; an abort rejects the poll.
 */
import type { Actor, AuditEvent } from '@summit-config/core';
import { createRbac } from '@summit-config/core';
import { tempDirs } from '@summit-config/test-support/temp';
import { describe, expect, it } from 'vitest';
import { createAuditFeed } from '../src/audit-feed.js';
import { resolveAgentConfig } from '../src/config.js';
import { createNotificationStore } from '../src/notifications/sql.js';
import { openRuntime } from '../src/runtime.js';

const tempDir = tempDirs();
const alice: Actor = { id: 'alice' };

describe('the audit feed', () => {
  it('hands every event once, in order, from a durable cursor', async () => {
    const dataDir = await tempDir('summit-feed-');
    const stores = await openRuntime(resolveAgentConfig({ stores: { embedded: { dataDir } } }, {}), { role: 'agent' });
    const handle = await (stores.secretSql as NonNullable<typeof stores.secretSql>)();
    const service = stores.service(createRbac({ bindings: [{ users: ['alice'], roles: ['config-admin'] }] }), {
      source: 'cli',
    });
    const warnings: string[] = [];
    try {
      const cursors = createNotificationStore({ sql: handle.sql, schema: handle.schema });
      const read = (afterSeq: number, limit: number) => service.audit(alice, { afterSeq, limit });
      const feed = createAuditFeed({
        read,
        cursors,
        batchSize: 2,
        logger: { warn: (_o, msg) => warnings.push(msg ?? '') },
      });
      const set = (n: number) =>
        service.set(alice, { ref: `global/c${n}`, config: { n } }, { expectedVersion: 0 }).then(() => undefined);
      await set(0); // before the subscribers exist: not handed to them
      const seen: number[] = [];
      const flaky: number[] = [];
      let failOn: number | undefined;
      feed.add({ name: 'all', handle: (e: AuditEvent) => void seen.push(e.seq) });
      feed.add({
        name: 'flaky',
        handle: (e: AuditEvent) => {
          if (e.seq === failOn) throw new Error('receiver down');
          flaky.push(e.seq);
        },
      });
      const signal = new AbortController().signal;
      await feed.poll(signal);
      const head = (await read(0, 1000)).at(-1)?.seq as number;
      expect(await cursors.getCursor('all')).toMatchObject({ seq: head });
      expect(seen).toEqual([]);

      for (let n = 1; n <= 5; n++) await set(n);
      const after = await read(head, 1000);
      // The service's config.set and the store's own append row, per write.
      expect(after.filter((e) => e.action === 'config.set')).toHaveLength(5);
      const events = after.map((e) => e.seq);
      failOn = events[2];
      await feed.poll(signal);
      expect(seen).toEqual(events); // in order, across batches of 2
      expect(flaky).toEqual(events.slice(0, 2)); // stopped at the failing event
      expect(warnings).toEqual(['audit feed: flaky stopped']);
      expect((await cursors.getCursor('flaky'))?.seq).toBe(events[1]);

      failOn = undefined;
      await feed.poll(signal);
      expect(flaky).toEqual(events); // the failed event again, then the rest, once each
      expect(seen).toEqual(events);

      // A new term: positions come from the cursors; nothing is handed twice.
      feed.reset();
      await set(6);
      await feed.poll(signal);
      const more = (await read(events.at(-1) as number, 1000)).map((e) => e.seq);
      const last = more.at(-1) as number;
      expect(seen).toEqual([...events, ...more]);
      expect(flaky).toEqual([...events, ...more]);
      expect(await cursors.getCursor('flaky')).toMatchObject({ seq: last });

      const stopped = new AbortController();
      stopped.abort(new Error('leadership ended'));
      await expect(feed.poll(stopped.signal)).rejects.toThrow('leadership ended');
    } finally {
      await service.close();
      await handle.close();
      await stores.close();
    }
  }, 60_000);
});
