/**
 * Audit checkpoints and where they are kept. A checkpoint names the chain's head at one time
 * (`seq`, `hash`) and is signed by a writer key, so whoever can rewrite the database cannot move it.
 * Anchors keep the latest checkpoint outside PostgreSQL: in Consul and in a file.
 */

/** One signed checkpoint of the audit chain. */
export interface AuditCheckpoint {
  /** The chain's head when the checkpoint was taken. */
  readonly seq: number;
  readonly hash: string;
  /** ISO-8601 UTC. */
  readonly at: string;
  /** Events with `seq >= signedFrom` must carry a valid signature (earlier ones predate signing). */
  readonly signedFrom: number;
  readonly keyId: string;
  /** Base64 Ed25519 signature of `auditCheckpointText(...)`. */
  readonly sig: string;
}

/** Where checkpoints are kept (Consul KV, a file). */
export interface AuditAnchor {
  /** e.g. `consul`, `file:/var/lib/summit/audit-checkpoint.json`. */
  readonly name: string;
  /** The latest checkpoint kept here, if any (not verified: the caller verifies). */
  read(options?: { signal?: AbortSignal }): Promise<AuditCheckpoint | undefined>;
  /** Keeps `checkpoint` unless a checkpoint with a higher `seq` is already kept. */
  write(checkpoint: AuditCheckpoint, options?: { signal?: AbortSignal }): Promise<void>;
}
