/**
 * 1 000 refs watched through one watch: one blocking connection to Consul, counted from the
 * kernel's socket table (/proc/net/tcp{,6}) joined with this process's file descriptors, and the
 * heads tree listed once, the changes arriving through the scope's feed.
 */

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createConsulStore } from '@summit-config/backends/consul';
import { type HeadChange, parseRef } from '@summit-config/core';
import { prefixes } from '@summit-config/test-support/consul';
import { doc } from '@summit-config/test-support/contract/store-contract';
import { services } from '@summit-config/test-support/services';
import { slowly, until } from '@summit-config/test-support/wait';
import { describe, expect, it } from 'vitest';

const { consulAddr } = services();
const newPrefix = prefixes();
const consulPort = Number(new URL(consulAddr).port || 80);

/** Established TCP connections from this process to `port`. */
function connectionsTo(port: number): number {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const remotePort = Number.parseInt(cols[2]?.split(':')[1] ?? '', 16);
      if (remotePort === port && cols[3] === '01') inodes.add(cols[9] as string);
    }
  }
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m && inodes.has(m[1] as string)) count++;
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return count;
}

describe('consul watch at scale', () => {
  it('1 000 refs with a listener each hold one blocking connection; a change wakes it once', async () => {
    const prefix = newPrefix();
    const refs = Array.from({ length: 1000 }, (_, i) => parseRef(`global/scale/r${String(i).padStart(4, '0')}`));
    const writer = createConsulStore({ address: consulAddr, prefix });
    for (let i = 0; i < refs.length; i += 50) {
      await Promise.all(refs.slice(i, i + 50).map((ref) => writer.append(doc(ref, 1))));
    }
    await writer.close(); // destroys its sockets
    const baseline = connectionsTo(consulPort);

    const watcher = createConsulStore({ address: consulAddr, prefix });
    const seen = new Map<string, HeadChange[]>();
    const stops = refs.map((ref) => {
      const key = `global/${ref.id}`;
      seen.set(key, []);
      return watcher.watch(
        (change) => {
          if (change.key === key) seen.get(key)?.push(change);
        },
        { scope: 'global', initial: true },
      );
    });
    try {
      await until(() => [...seen.values()].every((events) => events.length === 1), 'every initial head', slowly);
      expect(watcher.activeWatches).toBe(1);
      expect(connectionsTo(consulPort)).toBe(baseline + 1);

      const changed = refs.slice(0, 10);
      const writer2 = createConsulStore({ address: consulAddr, prefix });
      for (const ref of changed) await writer2.append(doc(ref, 2));
      await writer2.close();
      await until(
        () => changed.every((ref) => seen.get(`global/${ref.id}`)?.some((e) => e.version === 2)),
        'the ten changes',
        slowly,
      );
      for (const [key, events] of seen) {
        const isChanged = changed.some((ref) => `global/${ref.id}` === key);
        expect(
          events.map((e) => [e.version, e.initial]),
          key,
        ).toEqual(
          isChanged
            ? [
                [1, true],
                [2, false],
              ]
            : [[1, true]],
        );
      }
      expect(connectionsTo(consulPort)).toBe(baseline + 1);
      // One sync (the feed, made when absent, then the tree, listed once), then at most one blocking
      // request on the feed per change (fewer when changes coalesce), each carrying its document.
      const stats = watcher.watchStats().global;
      expect(stats?.listings).toBe(1);
      expect(stats?.requests).toBeLessThanOrEqual(3 + changed.length + 1);
      expect(stats?.fed).toBe(changed.length);
      expect(stats?.inlined).toBe(changed.length);
      expect(stats?.failures).toBe(0);
    } finally {
      for (const stop of stops) stop();
      await watcher.close();
    }
    expect(watcher.activeWatches).toBe(0);
    await until(() => connectionsTo(consulPort) === baseline, 'the watch connection to close', slowly);
  }, 120_000);
});
