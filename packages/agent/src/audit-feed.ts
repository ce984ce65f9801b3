/**
 * The audit follower: on the leader, reads the audit trail after each subscriber's durable cursor
 * (`agent_audit_cursors`, notifications/sql.ts), in `seq` order, and hands every event to the
 * subscriber; the cursor moves after each event handled. Whoever wrote an event (the CLI, the config
 * server, an agent's job), the trail is the one complete record of it, so every subscriber sees every
 * event once, as far as its cursor allows: a new leader resumes where the last one saved its cursor,
 * so an event handled but not yet saved when a leader died is handed again (at-least-once; the event
 * id `<seq>-<hash>` makes it idempotent). A subscriber without a cursor starts at the trail's head.
 */
import type { AuditEvent } from '@summit-config/core';
import { throwIfAborted } from '@summit-config/core/internal';
import type { NotificationStore } from './notifications/sql.js';
import { type AgentLogger, toConfigError } from './util.js';

/** Something that follows the audit trail. */
export interface AuditSubscriber {
  /** Its cursor's name: unique among subscribers, stable across restarts. */
  readonly name: string;
  /**
   * Handles one event; resolves when it is done with it (the cursor then moves past it). A rejection
   * stops this subscriber's pass without moving its cursor: the event comes again at the next poll.
   */
  handle(event: AuditEvent, signal: AbortSignal): Promise<void> | void;
}

export interface AuditFeedOptions {
  /** Reads events with `seq > afterSeq`, ascending, at most `limit` (the change service's `audit`). */
  read(afterSeq: number, limit: number): Promise<readonly AuditEvent[]>;
  /** Where the cursors are kept. */
  cursors: Pick<NotificationStore, 'getCursor' | 'saveCursor'>;
  /** Events read at once. Default 200. */
  batchSize?: number;
  logger?: AgentLogger;
}

/** The follower (see the file's comment). */
export interface AuditFeed {
  /** Adds a subscriber; returns its remover. `CONSTRAINT_VIOLATION` is not checked: names are the caller's. */
  add(subscriber: AuditSubscriber): () => void;
  /**
   * One pass: every subscriber (or only the one named `only`) catches up with the trail
   * (subscribers in parallel, each in order). Resolves when each has reached the end or stopped on
   * a failure (logged); rejects only when `signal` aborts.
   */
  poll(signal: AbortSignal, only?: string): Promise<void>;
  /**
   * Forgets the positions held in memory (of every subscriber, or of the one named): the next pass
   * reloads them from the cursors (a new leadership term).
   */
  reset(name?: string): void;
}

/** Creates the follower. Nothing is read before the first `poll`. */
export function createAuditFeed(options: AuditFeedOptions): AuditFeed {
  const subscribers = new Set<AuditSubscriber>();
  const positions = new Map<string, number>();
  const batch = options.batchSize ?? 200;
  const { logger } = options;

  /** The trail's head seq, paging through it (once per new subscriber). */
  async function head(): Promise<{ seq: number; hash: string | null }> {
    let at = { seq: 0, hash: null as string | null };
    for (;;) {
      const events = await options.read(at.seq, 1000);
      const last = events[events.length - 1];
      if (!last) return at;
      at = { seq: last.seq, hash: last.hash };
      if (events.length < 1000) return at;
    }
  }

  async function position(name: string): Promise<number> {
    const known = positions.get(name);
    if (known !== undefined) return known;
    let cursor = await options.cursors.getCursor(name);
    if (!cursor) {
      cursor = await head();
      await options.cursors.saveCursor(name, cursor.seq, cursor.hash);
      logger?.info?.({ subscriber: name, seq: cursor.seq }, `audit feed: ${name} starts at seq ${cursor.seq}`);
    }
    positions.set(name, cursor.seq);
    return cursor.seq;
  }

  async function follow(subscriber: AuditSubscriber, signal: AbortSignal): Promise<void> {
    try {
      let after = await position(subscriber.name);
      for (;;) {
        throwIfAborted(signal);
        const events = await options.read(after, batch);
        for (const event of events) {
          throwIfAborted(signal);
          if (event.seq <= after) continue;
          await subscriber.handle(event, signal);
          after = event.seq;
          positions.set(subscriber.name, after);
          await options.cursors.saveCursor(subscriber.name, event.seq, event.hash);
        }
        if (events.length < batch || !subscribers.has(subscriber)) return;
      }
    } catch (error) {
      if (signal.aborted) throw error;
      const err = toConfigError(error);
      logger?.warn?.({ subscriber: subscriber.name, err: err.toJSON() }, `audit feed: ${subscriber.name} stopped`);
    }
  }

  return {
    add(subscriber) {
      subscribers.add(subscriber);
      return () => {
        subscribers.delete(subscriber);
      };
    },
    async poll(signal, only) {
      throwIfAborted(signal);
      const chosen = [...subscribers].filter((s) => only === undefined || s.name === only);
      await Promise.all(chosen.map((s) => follow(s, signal)));
      throwIfAborted(signal);
    },
    reset(name) {
      if (name === undefined) positions.clear();
      else positions.delete(name);
    },
  };
}
