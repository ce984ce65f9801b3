/**
 * The reads: a version or the head (`get`, `getVersion`), the heads the actor may list (`list`), a
 * ref's history and the diff between two of its versions. Reads never write, not even an audit event.
 */
import { errors } from '../errors/config-error.js';
import { isPlainObject } from '../model/json.js';
import { parseRef, refKey } from '../model/ref.js';
import type { ServiceContext } from './context.js';
import { contentView, diffViews, isTombstone } from './diff.js';
import { checkVersionNumber, optionsObject } from './inputs.js';
import type { ConfigService, VersionSummary } from './types.js';

export function readMethods(
  ctx: ServiceContext,
): Pick<ConfigService, 'get' | 'getVersion' | 'list' | 'history' | 'diff'> {
  const { store, begin, authorize, readVersion, visibleTo } = ctx;

  return {
    async get(actorInput, refInput, opts) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      const o = optionsObject(opts, 'get');
      const version = o.version === undefined ? undefined : checkVersionNumber(o.version, 'version', 1);
      return store.getVersion(ref, version);
    },

    async getVersion(actorInput, refInput, version) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      return readVersion(ref, checkVersionNumber(version, 'version', 1));
    },

    async list(actorInput, query = {}) {
      const actor = begin(actorInput);
      if (!isPlainObject(query)) throw errors.constraint('list query must be an object');
      if (query.scope !== undefined) {
        const scope = parseRef({ scope: query.scope, id: 'x' }).scope;
        authorize(actor, 'config:list', { scope });
        return store.listHeads(query);
      }
      return visibleTo(
        actor,
        'config:list',
        () => store.listHeads(query),
        (h) => h.ref.scope,
      );
    },

    async history(actorInput, refInput, opts) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      const o = optionsObject(opts, 'history');
      const limit = o.limit === undefined ? 100 : checkVersionNumber(o.limit, 'limit', 1);
      const versions = (await store.listVersions(ref)).reverse().slice(0, limit);
      const out: VersionSummary[] = [];
      for (const v of versions) {
        const doc = await store.getVersion(ref, v);
        if (!doc) continue;
        out.push({
          version: doc.version,
          checksum: doc.checksum,
          createdAt: doc.createdAt,
          createdBy: doc.createdBy,
          message: doc.message,
          deleted: isTombstone(doc),
          metadata: doc.metadata,
        });
      }
      return out;
    },

    async diff(actorInput, refInput, from, to) {
      const actor = begin(actorInput);
      const ref = parseRef(refInput);
      authorize(actor, 'config:read', ref);
      checkVersionNumber(from, 'from', 0);
      const head = await store.getHead(ref);
      const target = to === undefined ? (head?.version ?? 0) : checkVersionNumber(to, 'to', 0);
      const a = from === 0 ? undefined : await readVersion(ref, from);
      const b = target === 0 ? undefined : await readVersion(ref, target);
      return { ref: refKey(ref), from, to: target, patch: diffViews(contentView(a), contentView(b)) };
    },
  };
}
