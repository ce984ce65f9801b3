/**
 * Turning signing on for an existing store (docs/trust.md): `resignHeads` appends, for every ref
 * whose head does not verify against the service's trust root, the same content again as the next
 * version, signed by the service's writer key. History only moves forward (the unsigned versions
 * stay, readable by the CLI), every reader that enforces the trust root then serves the re-signed
 * heads, and each re-signing is audited (`config.resign`).
 */
import { errors, isConfigError } from '../errors/config-error.js';
import { refKey } from '../model/ref.js';
import { checkVersionTrust, signedCopy } from '../trust/versions.js';
import type { ServiceContext } from './context.js';
import { optionsObject } from './inputs.js';
import type { ConfigService, ResignReport } from './types.js';

export function signingMethods(ctx: ServiceContext): Pick<ConfigService, 'resignHeads'> {
  const { store, governance, begin, authorize, event, callSource, now, readVersion, writtenButNotAudited } = ctx;
  return {
    async resignHeads(actorInput, opts) {
      const actor = begin(actorInput);
      authorize(actor, 'import');
      const o = optionsObject(opts, 'resignHeads');
      const source = callSource(o, 'resignHeads');
      const { signer, trust } = ctx;
      if (!signer || !trust) {
        throw errors.constraint('re-signing needs a signing key (the service option signer, or trust.signingKeyFile)');
      }
      const report: ResignReport = { examined: 0, resigned: [], verified: 0, conflicts: [] };
      for (const head of await store.listHeads({}, { consistent: true })) {
        report.examined++;
        const key = refKey(head.ref);
        const doc = await readVersion(head.ref, head.version);
        const failure = checkVersionTrust(doc, trust);
        if (!failure) {
          report.verified++;
          continue;
        }
        if (o.dryRun === true) {
          report.resigned.push({ ref: key, from: head.version, to: head.version + 1, reason: failure.code });
          continue;
        }
        const next = signedCopy(
          doc,
          head.version + 1,
          signer,
          {
            createdBy: actor.id,
            message: `re-signed v${head.version} (${failure.code})`,
            metadata: { resignOf: head.version },
            createdAt: now(),
          },
          ctx.limits,
        );
        let written: typeof next;
        try {
          written = await store.append(next);
        } catch (error) {
          // A writer moved the head meanwhile: its version is signed already.
          if (!isConfigError(error, 'VERSION_CONFLICT')) throw error;
          report.conflicts.push(key);
          continue;
        }
        try {
          await governance.appendAudit(
            event(
              actor,
              'config.resign',
              {
                ref: key,
                version: written.version,
                message: `v${head.version} re-signed as v${written.version}: ${failure.message}`,
              },
              source,
            ),
          );
        } catch (error) {
          throw writtenButNotAudited(written, error);
        }
        report.resigned.push({ ref: key, from: head.version, to: written.version, reason: failure.code });
      }
      return report;
    },
  };
}
