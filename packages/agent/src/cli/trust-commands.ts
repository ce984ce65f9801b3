/**
 * Signing keys and the trust root: `trust keygen` creates a writer key, `trust show` prints what
 * this process signs with and trusts, `trust resign` signs the heads of an existing store (the
 * migration that turns signing on; docs/trust.md).
 */
import { resolve } from 'node:path';
import { generateSigningKey } from '@summit-config/core';
import { createOwnerOnlyFile, errors } from '@summit-config/core/internal';
import type { Command } from 'commander';
import { action, type CliState, define, type Run } from './command.js';

export function registerTrustCommands(program: Command, state: CliState): void {
  const trust = program
    .command('trust')
    .description('writer keys (Ed25519) that sign every version, approval and audit event, and the keys trusted');

  trust
    .command('keygen')
    .description('create a writer key: a PKCS#8 PEM file of mode 0600 (never overwritten)')
    .requiredOption('--out <file>', 'where to write the private key')
    .option('--json', 'machine-readable output: one JSON document')
    .addHelpText(
      'after',
      '\nPoint SUMMIT_SIGNING_KEY_FILE (or trust.signingKeyFile) at it, and add the printed public key to the\ntrust.keys of every agent, client and CLI that must accept what it signs.',
    )
    .action(
      action(state, async (run: Run<{ out: string }>) => {
        const file = resolve(run.opts.out);
        const key = generateSigningKey();
        if (!(await createOwnerOnlyFile(file, key.privateKeyPem))) {
          throw errors.constraint(`${file} already exists: a signing key is never overwritten`);
        }
        const info = { file, keyId: key.keyId, publicKey: key.publicKey };
        run.out.result(info, () =>
          [`wrote ${file} (mode 0600)`, `keyId:     ${key.keyId}`, `publicKey: ${key.publicKey}`].join('\n'),
        );
        run.out.note(`# trust it with:  trust: { keys: [ { publicKey: ${key.publicKey} } ] }`);
      }),
    );

  define(
    state,
    trust.command('show').description('the signing key of this configuration and the keys it trusts'),
    async (run: Run<object>) => {
      const s = await run.session();
      const { signer, trust: root, checkpointFile } = s.keys;
      const info = {
        signingKey: signer
          ? { keyId: signer.keyId, publicKey: signer.publicKey, principal: signer.principal ?? null }
          : null,
        verification: root ? 'required' : 'off',
        trusted: root?.keys ?? [],
        checkpointFile: checkpointFile ?? null,
      };
      run.out.result(info, () =>
        [
          `signing key:  ${signer ? `${signer.keyId} (${signer.publicKey})` : 'none (nothing this configuration writes is signed)'}`,
          `verification: ${root ? 'every version must verify' : 'off (no key is trusted)'}`,
          ...(root?.keys ?? []).map(
            (k) =>
              `  trusted ${k.keyId}${k.principal ? ` (${k.principal})` : ''}${k.notAfter ? ` until ${k.notAfter}` : ''}`,
          ),
          `checkpoints:  ${checkpointFile ?? 'no file anchor'}`,
        ].join('\n'),
      );
    },
  );

  define(
    state,
    trust
      .command('resign')
      .description(
        'sign every head that does not verify: the same content again as the next version (turns signing on)',
      )
      .option('--dry-run', 'only list the heads that would be re-signed'),
    async (run: Run<{ dryRun?: boolean }>) => {
      const s = await run.session();
      const report = await s.service.resignHeads(s.actor, { dryRun: run.opts.dryRun === true });
      run.out.result(report, () =>
        [
          ...report.resigned.map(
            (r) => `${run.opts.dryRun ? 'would re-sign' : 're-signed'} ${r.ref} v${r.from} -> v${r.to} (${r.reason})`,
          ),
          `${report.examined} ref(s) examined, ${report.verified} verified already, ${report.resigned.length} ${run.opts.dryRun ? 'to re-sign' : 're-signed'}${report.conflicts.length ? `, ${report.conflicts.length} moved meanwhile (${report.conflicts.join(', ')})` : ''}`,
        ].join('\n'),
      );
    },
  );
}
