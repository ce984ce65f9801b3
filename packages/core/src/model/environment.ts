import { errors } from '../errors/config-error.js';
import { parseEnvironmentName } from './ref.js';

/** An approval policy attached to an environment (enforced by the change service). */
export interface ApprovalPolicy {
  /** Approvals needed before a change applies; 0 means auto-approve. */
  requiredApprovals: number;
  /** User ids or `role:<name>` entries allowed to approve; empty means anyone with `approval:approve`. */
  approvers?: string[];
  /** Whether emergency changes (apply now, review after) are allowed. Default true. */
  allowEmergency?: boolean;
  /** Hours after which a pending request expires. Default 72. */
  expiresAfterHours?: number;
}

export interface Environment {
  /** One segment of `[A-Za-z0-9_.-]+`. */
  name: string;
  /** The environment this one inherits overrides from, e.g. `production-eu -> production`. */
  parent?: string;
  /** Production environments are guarded by default. */
  production: boolean;
  approvalPolicy?: ApprovalPolicy;
}

/**
 * Returns the chain of environment names from the root ancestor down to `name` (root first),
 * the order in which overrides apply. Throws `ENVIRONMENT_NOT_FOUND` for an unknown name or parent
 * and `CIRCULAR_DEPENDENCY` when the parent links loop.
 */
export function environmentChain(name: string, environments: ReadonlyMap<string, Environment>): string[] {
  const chain: string[] = [];
  const seen = new Set<string>();
  let current: string | undefined = name;
  while (current !== undefined) {
    if (seen.has(current)) {
      throw errors.circular(`environment parents loop: ${[...chain.reverse(), current].join(' -> ')}`);
    }
    seen.add(current);
    const env = environments.get(current);
    if (!env) throw errors.environmentNotFound(current);
    chain.push(current);
    current = env.parent;
  }
  return chain.reverse();
}

/**
 * Validates a set of environments as a whole: names, unknown parents and cycles.
 * Returns them as a map by name. Throws the first problem found, naming the environment.
 */
export function validateEnvironments(list: readonly Environment[]): Map<string, Environment> {
  const byName = new Map<string, Environment>();
  for (const env of list) {
    const name = parseEnvironmentName(env.name);
    if (byName.has(name)) throw errors.constraint(`environment "${name}" is defined twice`);
    if (env.parent !== undefined) parseEnvironmentName(env.parent);
    if (typeof env.production !== 'boolean') {
      throw errors.constraint(`environment "${name}": production must be a boolean`);
    }
    byName.set(name, env);
  }
  for (const name of byName.keys()) environmentChain(name, byName);
  return byName;
}
