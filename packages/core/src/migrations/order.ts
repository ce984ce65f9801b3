/**
 * Dependency order of migrations: topological (Kahn), ties broken by version (natural order:
 * `2` < `10`, `1.2.0` < `1.10.0`), then by name, so the same set always runs in the same order.
 */
import { errors } from '../errors/config-error.js';
import { MigrationError } from './errors.js';

/** What ordering needs of a migration. */
export interface Orderable {
  readonly name: string;
  readonly version: string;
  readonly dependencies: readonly string[];
}

/** Natural comparison: digit runs compare as numbers, other runs as text. */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function compare(a: Orderable, b: Orderable): number {
  return compareVersions(a.version, b.version) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

/** Finds one cycle among `names` (all of which are on cycles or behind them) and names it `a -> b -> a`. */
function findCycle(byName: ReadonlyMap<string, Orderable>, remaining: ReadonlySet<string>): string[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    state.set(name, 'visiting');
    stack.push(name);
    for (const dep of [...(byName.get(name)?.dependencies ?? [])].sort()) {
      if (!remaining.has(dep)) continue;
      if (state.get(dep) === 'visiting') return [...stack.slice(stack.indexOf(dep)), dep];
      if (state.get(dep) === undefined) {
        const found = visit(dep);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const name of [...remaining].sort()) {
    if (state.get(name) !== undefined) continue;
    const found = visit(name);
    // Dependencies point backwards in time: print the cycle in run order (dependency first).
    if (found) return found.reverse();
  }
  return [...remaining].sort();
}

/**
 * Returns `migrations` in an order where every migration comes after its dependencies. Throws
 * `CONSTRAINT_VIOLATION` for duplicate names, `NOT_FOUND` for a dependency that is not among
 * `migrations`, and `CIRCULAR_DEPENDENCY` naming one cycle (`a -> b -> c -> a`).
 */
export function orderMigrations<T extends Orderable>(migrations: readonly T[]): T[] {
  const byName = new Map<string, T>();
  for (const m of migrations) {
    if (byName.has(m.name)) {
      throw new MigrationError('CONSTRAINT_VIOLATION', `migration "${m.name}" is defined twice`, { migration: m.name });
    }
    byName.set(m.name, m);
  }
  for (const m of migrations) {
    for (const dep of m.dependencies) {
      if (!byName.has(dep)) {
        throw new MigrationError(
          'NOT_FOUND',
          `migration "${m.name}" depends on "${dep}", which is not defined (known: ${[...byName.keys()].sort().join(', ') || 'none'})`,
          { migration: m.name },
        );
      }
    }
  }
  const indegree = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const m of migrations) {
    indegree.set(m.name, new Set(m.dependencies).size);
    for (const dep of new Set(m.dependencies)) {
      const list = dependents.get(dep) ?? [];
      list.push(m.name);
      dependents.set(dep, list);
    }
  }
  const ready = migrations.filter((m) => indegree.get(m.name) === 0).sort(compare);
  const out: T[] = [];
  while (ready.length > 0) {
    const next = ready.shift() as T;
    out.push(next);
    for (const name of dependents.get(next.name) ?? []) {
      const left = (indegree.get(name) as number) - 1;
      indegree.set(name, left);
      if (left === 0) {
        ready.push(byName.get(name) as T);
        ready.sort(compare);
      }
    }
  }
  if (out.length < migrations.length) {
    const remaining = new Set(migrations.filter((m) => (indegree.get(m.name) as number) > 0).map((m) => m.name));
    const cycle = findCycle(byName, remaining);
    throw new MigrationError(
      'CIRCULAR_DEPENDENCY',
      `migrations depend on each other in a cycle: ${cycle.join(' -> ')}`,
      {
        migration: cycle[0],
      },
    );
  }
  return out;
}

/**
 * `names` and everything they depend on, transitively, in dependency order (a subset of
 * `ordered`, which must already be ordered). Throws `NOT_FOUND` for an unknown name.
 */
export function withDependencies<T extends Orderable>(ordered: readonly T[], names: readonly string[]): T[] {
  const byName = new Map(ordered.map((m) => [m.name, m]));
  const wanted = new Set<string>();
  const visit = (name: string) => {
    if (wanted.has(name)) return;
    const m = byName.get(name);
    if (!m) throw errors.notFound(`no migration is named "${name}"`);
    wanted.add(name);
    for (const dep of m.dependencies) visit(dep);
  };
  for (const n of names) visit(n);
  return ordered.filter((m) => wanted.has(m.name));
}
