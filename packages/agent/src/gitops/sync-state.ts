/**
 * The sync loop's shared, durable state, kept in the audit feed's cursor table
 * (`agent_audit_cursors`, notifications/sql.ts) so every agent of the cluster reads the same (a new
 * leader resumes) and the CLI can write it. Three cursors, each a generation number (`seq`, only ever
 * raised: a lower one is ignored) and a text (`hash`):
 *
 *   gitops:applied   the last commit applied, as `<sha> <ISO time> <accepted generation>` (the
 *                    accept it consumed: a later force push needs a new accept)
 *   gitops:accepted  the commit an operator accepted after a force push (`gitops accept`), `<sha> <ISO time>`
 *   gitops:sync      sync requests (the push webhook): each raises the generation; no text
 *
 * One sync loop per cluster: a `gitops` section that follows another repository or branch finds an
 * applied commit it cannot place and blocks until a commit is accepted.
 */
import type { NotificationStore } from '../notifications/sql.js';

/** The cursor names. */
export const SYNC_CURSORS = { applied: 'gitops:applied', accepted: 'gitops:accepted', sync: 'gitops:sync' } as const;

/** A commit marker: the commit, when it was recorded and the cursor's generation. */
export interface CommitMark {
  commit: string;
  /** ISO-8601 UTC. */
  at: string;
  generation: number;
  /** Of `gitops:applied`: the generation of `gitops:accepted` when it was applied (0: none). */
  acceptedGeneration: number;
}

/** The cursor store the state lives in (the audit feed's). */
export type SyncCursors = Pick<NotificationStore, 'getCursor' | 'saveCursor'>;

/** Reading and writing the shared state. Every method rejects `BACKEND_UNAVAILABLE` when the database fails. */
export interface SyncState {
  applied(): Promise<CommitMark | undefined>;
  accepted(): Promise<CommitMark | undefined>;
  /** Records `commit` as applied (a new generation), with the accepted generation known then. */
  markApplied(commit: string, acceptedGeneration: number): Promise<void>;
  /** Records `commit` as accepted by an operator (a new generation). */
  accept(commit: string): Promise<void>;
  /** The sync requests' generation (0: none yet). */
  requests(): Promise<number>;
  /** Asks the leader to sync at once (raises the generation). */
  requestSync(): Promise<number>;
}

function markOf(cursor: { seq: number; hash: string | null } | undefined): CommitMark | undefined {
  if (!cursor?.hash) return undefined;
  const [commit, at, accepted] = cursor.hash.split(' ');
  if (!commit) return undefined;
  return { commit, at: at ?? '', generation: cursor.seq, acceptedGeneration: Number(accepted ?? 0) || 0 };
}

/** The state over `cursors`. Nothing is read before the first call. */
export function createSyncState(cursors: SyncCursors): SyncState {
  const bump = async (name: string, text: string | null) => {
    const seq = ((await cursors.getCursor(name))?.seq ?? 0) + 1;
    await cursors.saveCursor(name, seq, text);
    return seq;
  };
  return {
    applied: async () => markOf(await cursors.getCursor(SYNC_CURSORS.applied)),
    accepted: async () => markOf(await cursors.getCursor(SYNC_CURSORS.accepted)),
    async markApplied(commit, acceptedGeneration) {
      await bump(SYNC_CURSORS.applied, `${commit} ${new Date().toISOString()} ${acceptedGeneration}`);
    },
    async accept(commit) {
      await bump(SYNC_CURSORS.accepted, `${commit} ${new Date().toISOString()}`);
    },
    requests: async () => (await cursors.getCursor(SYNC_CURSORS.sync))?.seq ?? 0,
    requestSync: () => bump(SYNC_CURSORS.sync, null),
  };
}
