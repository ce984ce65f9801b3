/**
 * `exportTree`: the service's current heads, schemas and environments written in the gitops layout
 * (docs/gitops.md), so that planning the written directory shows no change. YAML with keys sorted
 * (documents: `config`, `overrides`, `rollout`, `metadata` in that order), schemas as JSON with keys
 * sorted; deleted refs (tombstones) are left out, and so are the service's reserved metadata keys
 * and the `gitops` key.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Actor, ConfigService, Environment, JsonObject, JsonValue } from '@summit-config/core';
import { errors, isTombstone } from '@summit-config/core/internal';
import { stringify } from 'yaml';
import { userMetadataOf } from './plan.js';
import { checkCallOptions } from './plan-environments.js';
import { ENVIRONMENTS_FILE } from './tree.js';

/** Options of {@link exportTree}. */
export interface ExportTreeOptions {
  service: ConfigService;
  actor: Actor;
  /** The directory; its `configs/`, `schemas/` and `environments.yaml` are replaced, nothing else is touched. */
  dir: string;
}

/** What was written. */
export interface ExportTreeReport {
  dir: string;
  refs: number;
  schemas: number;
  environments: number;
  /** Every file written, relative to `dir`. */
  files: string[];
}

/** `value` with the keys of every object sorted (arrays keep their order). */
export function sortedKeys<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => sortedKeys(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: JsonObject = {};
    for (const key of Object.keys(value).sort()) out[key] = sortedKeys((value as JsonObject)[key] as JsonValue);
    return out as T;
  }
  return value;
}

const yaml = (value: unknown) => stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });

/** Environments with every parent before its children, then by name. */
function environmentOrder(list: readonly Environment[]): Environment[] {
  const byName = new Map(list.map((e) => [e.name, e]));
  const depth = (e: Environment): number => {
    let d = 0;
    let p = e.parent;
    const seen = new Set<string>();
    while (p !== undefined && byName.has(p) && !seen.has(p)) {
      seen.add(p);
      d++;
      p = byName.get(p)?.parent;
    }
    return d;
  };
  return [...list].sort((a, b) => depth(a) - depth(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Writes the layout into `opts.dir` (created when missing). Needs `config:read`, `schema:read`. Bad
 * options are `CONSTRAINT_VIOLATION` naming the option; service failures are thrown as they are; a
 * file that cannot be written rejects with the file system's error.
 */
export async function exportTree(opts: ExportTreeOptions): Promise<ExportTreeReport> {
  checkCallOptions('exportTree', opts);
  const { service, actor, dir } = opts;
  if (typeof dir !== 'string' || dir.length === 0)
    throw errors.constraint('exportTree option dir must be a directory path');
  const [heads, schemaIds, environments] = await Promise.all([
    service.list(actor),
    service.listSchemas(actor),
    service.listEnvironments(actor),
  ]);
  const files = new Map<string, string>();
  let refs = 0;
  for (const head of heads) {
    const doc = await service.get(actor, head.ref);
    if (!doc || isTombstone(doc)) continue;
    const out: JsonObject = { config: sortedKeys(doc.config) };
    if (Object.keys(doc.overrides).length > 0) out.overrides = sortedKeys(doc.overrides as JsonObject);
    if (doc.rollout !== null) out.rollout = sortedKeys(doc.rollout);
    const metadata = userMetadataOf(doc.metadata);
    if (Object.keys(metadata).length > 0) out.metadata = sortedKeys(metadata);
    files.set(`configs/${doc.ref.scope}/${doc.ref.id}.yaml`, yaml(out));
    refs++;
  }
  let schemas = 0;
  for (const { id } of schemaIds) {
    const found = await service.getSchema(actor, id);
    if (!found) continue;
    files.set(`schemas/${id}.json`, `${JSON.stringify(sortedKeys(found.schema), null, 2)}\n`);
    schemas++;
  }
  const envs = environmentOrder(environments).map((e) => {
    const out: JsonObject = { name: e.name };
    if (e.parent !== undefined) out.parent = e.parent;
    out.production = e.production;
    if (e.approvalPolicy !== undefined) out.approvalPolicy = sortedKeys(e.approvalPolicy as unknown as JsonObject);
    return out;
  });
  files.set(ENVIRONMENTS_FILE, yaml(envs));

  await rm(join(dir, 'configs'), { recursive: true, force: true });
  await rm(join(dir, 'schemas'), { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const written = [...files.keys()].sort();
  for (const path of written) {
    const full = join(dir, ...path.split('/'));
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, files.get(path) as string);
  }
  return { dir, refs, schemas, environments: envs.length, files: written };
}
