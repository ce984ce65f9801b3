/**
 * Secrets on any configured provider (`--provider <name>`, default `local`: AES-256-GCM, key in
 * SUMMIT_MASTER_KEY or SUMMIT_MASTER_KEY_FILE, versions in the same database as the config; aws,
 * gcp, azure, vault from the agent config's `secrets.providers`): `secret create`, `secret rotate`
 * (the rotation manager's resumable run), `secret list`, `secret policy`. Values are never printed.
 */
import { ConfigError, ERROR_CODES, type ErrorCode } from '@summit-config/core';
import { errors } from '@summit-config/core/internal';
import {
  checkPolicyInput,
  generateMasterKey,
  generatePassword,
  type RotationPolicy,
  type RotationPolicyInput,
  type SecretVersionInfo,
} from '@summit-config/secrets';
import type { Command } from 'commander';
import { action, type CliState, define, type Run } from './command.js';
import type { Session } from './context.js';
import { collect, integer, keyValue } from './input.js';
import { readAll, when } from './io.js';
import { untilStopped } from './stop.js';

/** The provider of a command line: `--provider`, default `local`. */
const providerOf = (opts: { provider?: string }): string => opts.provider ?? 'local';

/** Adds `--provider <name>` (every secret command but keygen). */
function withProvider(command: Command): Command {
  return command.option(
    '--provider <name>',
    'the secret provider: a name under secrets.providers in the agent config (aws, gcp, azure, vault, ...) (default "local")',
  );
}

interface PolicyOptions {
  provider?: string;
  rotationDays?: string;
  cron?: string;
  graceDays?: string;
  notify?: string[];
  disabled?: boolean;
}

function policyInput(provider: string, name: string, opts: PolicyOptions): RotationPolicyInput | undefined {
  const intervalDays = integer(opts.rotationDays, '--rotation-days', 1);
  if (intervalDays === undefined && opts.cron === undefined) return undefined;
  if (intervalDays !== undefined && opts.cron !== undefined) {
    throw errors.constraint('--rotation-days and --cron are exclusive');
  }
  const graceDays = integer(opts.graceDays, '--grace-days', 0);
  return {
    secret: { provider, name },
    ...(intervalDays !== undefined ? { intervalDays } : { cron: opts.cron as string }),
    ...(graceDays !== undefined ? { gracePeriodDays: graceDays } : {}),
    ...(opts.notify && opts.notify.length > 0 ? { notify: opts.notify } : {}),
    ...(opts.disabled ? { enabled: false } : {}),
  };
}

function addPolicyOptions(command: Command): Command {
  return command
    .option('--rotation-days <n>', 'rotate every n days')
    .option('--cron <expr>', 'rotate on this 5-field cron schedule (UTC) instead')
    .option('--grace-days <n>', 'the previous version stays valid this many days after a rotation (default 7)')
    .option('--notify <url>', 'webhook notified of rotations (repeatable)', collect, [])
    .option('--disabled', 'never rotate on schedule (rotate by hand only)');
}

function policyView(p: RotationPolicy) {
  return {
    secret: p.secret,
    state: p.state,
    step: p.step,
    enabled: p.enabled,
    intervalDays: p.intervalDays,
    cron: p.cron,
    graceMs: p.graceMs,
    lastRotatedAt: p.lastRotatedAt,
    nextRotationAt: p.nextRotationAt,
    run: p.run,
    error: p.error,
    lastRun: p.lastRun,
  };
}

function policyText(p: RotationPolicy): string {
  const lines = [`secret ${p.secret.provider}/${p.secret.name}: ${p.state}${p.step ? ` (step ${p.step})` : ''}`];
  if (p.run) {
    lines.push(
      `  run ${p.run.id}: new version ${p.run.newVersion ?? '-'}, previous ${p.run.previousVersion ?? '-'}${p.run.graceUntil ? `, grace until ${when(p.run.graceUntil)}` : ''}`,
    );
    for (const b of p.run.bumps ?? []) {
      lines.push(
        `  config ${b.ref}: ${b.version ? `v${b.version}` : b.skipped ? `skipped (${b.skipped})` : 'pending'}`,
      );
    }
    for (const w of p.run.waitingFor ?? []) {
      lines.push(`  waiting for ${w.instance} (${w.environment}) on ${w.ref}: at v${w.version}, needs v${w.needed}`);
    }
  }
  if (p.error) lines.push(`  failed at ${p.error.step}: ${p.error.code}: ${p.error.message}`);
  if (p.lastRun) lines.push(`  last completed: version ${p.lastRun.version} at ${when(p.lastRun.completedAt)}`);
  lines.push(`  next rotation: ${p.enabled ? when(p.nextRotationAt) : 'disabled'}`);
  return lines.join('\n');
}

/** Records the event through the service, which signs it (the actor holds `secrets:write`: checked before). */
async function audit(s: Session, action: string, message: string): Promise<void> {
  await s.service.recordEvent(s.actor, { action, message, permission: 'secrets:write' }, { source: 'cli' });
}

export function registerSecretCommands(program: Command, state: CliState): void {
  const secret = program
    .command('secret')
    .description(
      'secrets on the local provider (AES-256-GCM, key in SUMMIT_MASTER_KEY) or any provider of the agent config (--provider), and their rotation',
    );

  secret
    .command('keygen')
    .description('print a new master key for the local provider (32 random bytes, base64)')
    .option('--json', 'machine-readable output: one JSON document')
    .addHelpText(
      'after',
      '\nKeep it in a file of mode 0600 and point SUMMIT_MASTER_KEY_FILE at it:\n  umask 077 && summit-config secret keygen > master.key',
    )
    .action(
      action(state, async (run: Run<object>) => {
        const key = generateMasterKey();
        run.out.result({ key, encoding: 'base64', bytes: 32 }, () => key);
        run.out.note('# store it with mode 0600 and set SUMMIT_MASTER_KEY_FILE to its path; it is shown only now');
      }),
    );

  define(
    state,
    withProvider(
      addPolicyOptions(
        secret
          .command('create')
          .description('create a secret (its first version is current); optionally with a rotation policy')
          .argument('<name>', 'the secret name')
          .argument('[value]', 'the value; "-" or omitted: read from stdin (prefer stdin: argv is visible to others)')
          .option('--generate [length]', 'generate a random password instead (default length 32)')
          .option('--label <key=value>', 'a label stored with the version, in clear (repeatable)', collect, []),
      ),
    ).addHelpText(
      'after',
      '\nReference it from a config as {"$secret": {"provider": "local", "name": "<name>"}} (the --provider name). The value is never printed.',
    ),
    async (
      run: Run<PolicyOptions & { generate?: string | boolean; label: string[] }>,
      name: string,
      valueArg: string | undefined,
    ) => {
      const { opts } = run;
      let value: string;
      if (opts.generate !== undefined) {
        if (valueArg !== undefined) throw errors.constraint('give a value or --generate, not both');
        const length = opts.generate === true ? 32 : integer(opts.generate as string, '--generate', 8);
        value = generatePassword({ length });
      } else if (valueArg !== undefined && valueArg !== '-') {
        value = valueArg;
      } else {
        const stdin = run.io.stdin;
        if (!stdin || (valueArg === undefined && (stdin as { isTTY?: boolean }).isTTY === true)) {
          throw errors.constraint('no value: give it on stdin, as an argument, or use --generate');
        }
        value = (await readAll(stdin)).replace(/\r?\n$/, '');
        if (value.length === 0) throw errors.constraint('the value read from stdin is empty');
      }
      const labels: Record<string, string> = {};
      for (const pair of opts.label) {
        const [key, text] = keyValue(pair, '--label');
        labels[key] = text;
      }
      const providerName = providerOf(opts);
      const policy = policyInput(providerName, name, opts);
      // A bad schedule is refused before the secret exists, so nothing is left half-made.
      if (policy) checkPolicyInput(policy);
      const s = await run.session();
      s.rbac.check(s.actor, 'secrets:write');
      const { provider, rotation } = await s.secrets(opts.provider);
      const info = await provider.create(name, value, Object.keys(labels).length > 0 ? { labels } : {});
      await audit(s, 'secret.create', `secret ${providerName}/${name} created (version ${info.version})`);
      const stored = policy ? await rotation.putPolicy(s.actor, policy) : undefined;
      run.out.result(
        { ...info, provider: providerName, ...(stored ? { policy: policyView(stored) } : {}) },
        () =>
          `secret ${providerName}/${name} created: version ${info.version} is current${stored ? `; rotates ${stored.intervalDays ? `every ${stored.intervalDays} day(s)` : `on "${stored.cron}"`}, next ${when(stored.nextRotationAt)}` : ''}`,
      );
    },
  );

  define(
    state,
    withProvider(
      addPolicyOptions(
        secret
          .command('policy')
          .description('create or replace the rotation policy of a secret')
          .argument('<name>', 'the secret name'),
      ),
    ),
    async (run: Run<PolicyOptions>, name: string) => {
      const policy = policyInput(providerOf(run.opts), name, run.opts);
      if (!policy) throw errors.constraint('give --rotation-days <n> or --cron <expr>');
      const s = await run.session();
      const { rotation } = await s.secrets(run.opts.provider);
      const stored = await rotation.putPolicy(s.actor, policy);
      run.out.result(policyView(stored), () => policyText(stored));
    },
  );

  define(
    state,
    withProvider(
      secret
        .command('rotate')
        .description(
          'rotate now: new version pending, verified, promoted, configs bumped; the previous version is revoked after the grace period (by the agent, or --wait)',
        )
        .argument('<name>', 'the secret name')
        .option('--force', 'start anew although the last run failed after promoting')
        .option('--retry', 'resume a failed run at its failed step')
        .option('--wait', 'keep going until the run completes or fails (through the grace period)'),
    ),
    async (run: Run<{ force?: boolean; retry?: boolean; wait?: boolean; provider?: string }>, name: string) => {
      const s = await run.session();
      const { rotation } = await s.secrets(run.opts.provider);
      const providerName = providerOf(run.opts);
      const id = { provider: providerName, name };
      const existing = await rotation.getPolicy(s.actor, id);
      if (!existing) {
        throw errors.notFound(
          `secret ${providerName}/${name} has no rotation policy: create one with \`summit-config secret policy ${name}${run.opts.provider ? ` --provider ${providerName}` : ''} --rotation-days <n>\``,
        );
      }
      const progress = run.out.progress('rotating: step');
      let steps = 0;
      const off = rotation.on('step', (e) => {
        if (e.secret.name === name) progress.update(++steps, e.step);
      });
      const stop = run.opts.wait ? untilStopped(run.io.signal) : undefined;
      let policy: RotationPolicy;
      try {
        const options = { force: run.opts.force === true, wait: run.opts.wait === true, signal: stop?.signal };
        policy = run.opts.retry
          ? await rotation.retry(s.actor, id, options)
          : await rotation.rotate(s.actor, id, options);
      } finally {
        off();
        stop?.dispose();
        progress.done();
      }
      run.out.result(policyView(policy), () => policyText(policy));
      if (policy.state === 'failed' && policy.error) {
        const code = (ERROR_CODES as readonly string[]).includes(policy.error.code)
          ? (policy.error.code as ErrorCode)
          : 'SECRET_PROVIDER';
        throw new ConfigError(
          code,
          `rotation of ${providerName}/${name} failed at step ${policy.error.step}: ${policy.error.message}`,
        );
      }
    },
  );

  define(
    state,
    withProvider(
      secret
        .command('list')
        .description(
          "list a provider's secrets with their current version and rotation state (no values); a cloud provider cannot list, so its secrets with a rotation policy and those named",
        )
        .argument('[names...]', 'these secrets too (NOT_FOUND when one does not exist)'),
    ),
    async (run: Run<{ provider?: string }>, named: string[] = []) => {
      const s = await run.session();
      s.rbac.check(s.actor, 'secrets:read');
      const providerName = providerOf(run.opts);
      const { provider, rotation, listNames } = await s.secrets(run.opts.provider);
      const names = [...new Set([...(await listNames()), ...named])].sort();
      const policies = await rotation.listPolicies(s.actor);
      const rows: Array<{
        provider: string;
        name: string;
        current: string | undefined;
        previous: string | undefined;
        pending: string | undefined;
        versions: number;
        createdAt: string | undefined;
        rotation?: ReturnType<typeof policyView>;
      }> = [];
      for (const name of names) {
        const versions: SecretVersionInfo[] = await provider.listVersions(name);
        const policy = policies.find((p) => p.secret.provider === providerName && p.secret.name === name);
        rows.push({
          provider: providerName,
          name,
          current: versions.find((v) => v.stage === 'current')?.version,
          previous: versions.find((v) => v.stage === 'previous')?.version,
          pending: versions.find((v) => v.stage === 'pending')?.version,
          versions: versions.length,
          createdAt: versions[0]?.createdAt,
          ...(policy ? { rotation: policyView(policy) } : {}),
        });
      }
      run.out.list(rows, 'No secrets.', ['NAME', 'CURRENT', 'VERSIONS', 'ROTATION', 'STATE', 'NEXT ROTATION'], (r) => [
        r.name,
        r.current ?? '-',
        String(r.versions),
        r.rotation ? (r.rotation.intervalDays ? `${r.rotation.intervalDays}d` : (r.rotation.cron ?? '-')) : '-',
        r.rotation ? `${r.rotation.state}${r.rotation.step ? ` (${r.rotation.step})` : ''}` : '-',
        r.rotation?.enabled ? when(r.rotation.nextRotationAt) : '-',
      ]);
    },
  );
}
