/**
 * Environments: `env list`, `env create`, `env update` (name, parent, production, approval policy).
 */
import type { ApprovalPolicy, Environment } from '@summit-config/core';
import type { Command } from 'commander';
import { type CliState, define, type Run } from './command.js';
import { integer, list } from './input.js';

interface EnvOptions {
  parent?: string;
  production?: boolean;
  requiredApprovals?: string;
  approvers?: string[];
  emergency?: boolean;
  expiresAfterHours?: string;
}

function definition(name: string, opts: EnvOptions): Environment {
  const env: Environment = { name, production: opts.production === true };
  if (opts.parent) env.parent = opts.parent;
  const required = integer(opts.requiredApprovals, '--required-approvals', 0);
  const approvers = list(opts.approvers);
  const hours = integer(opts.expiresAfterHours, '--expires-after-hours', 1);
  if (required !== undefined || approvers.length > 0 || opts.emergency !== undefined || hours !== undefined) {
    const policy: ApprovalPolicy = { requiredApprovals: required ?? (env.production ? 1 : 0) };
    if (approvers.length > 0) policy.approvers = approvers;
    if (opts.emergency !== undefined) policy.allowEmergency = opts.emergency;
    if (hours !== undefined) policy.expiresAfterHours = hours;
    env.approvalPolicy = policy;
  }
  return env;
}

function addDefinitionOptions(command: Command): Command {
  return command
    .option('--parent <environment>', 'inherit the overrides of this environment (e.g. production-eu -> production)')
    .option('--production', 'a production environment: guarded (1 approval) unless a policy says otherwise')
    .option('--required-approvals <n>', 'approvals a change needs here (0: auto-approve)')
    .option('--approvers <ids...>', 'who may approve: user ids or role:<name> (repeat or comma-separate)')
    .option('--emergency', 'allow emergency changes here (the default outside production)')
    .option('--no-emergency', 'refuse emergency changes here (the default in production)')
    .option('--expires-after-hours <n>', 'pending requests expire after this many hours (default 72)');
}

export function registerEnvCommands(program: Command, state: CliState): void {
  const env = program.command('env').description('environments and their approval policies');

  define(state, env.command('list').description('list environments'), async (run: Run<object>) => {
    const s = await run.session();
    const envs = await s.service.listEnvironments(s.actor);
    run.out.list(
      envs,
      'No environments.',
      ['NAME', 'PARENT', 'PRODUCTION', 'APPROVALS', 'APPROVERS', 'EMERGENCY', 'EXPIRES'],
      (e) => {
        const p = e.approvalPolicy;
        return [
          e.name,
          e.parent ?? '-',
          e.production ? 'yes' : 'no',
          String(p?.requiredApprovals ?? (e.production ? 1 : 0)),
          p?.approvers?.join(',') || 'any',
          (p?.allowEmergency ?? !e.production) ? 'yes' : 'no',
          `${p?.expiresAfterHours ?? 72}h`,
        ];
      },
    );
  });

  const verbs = [
    ['create', 'create an environment'],
    ['update', 'replace the definition of an environment (options not given return to their defaults)'],
  ] as const;
  for (const [verb, description] of verbs) {
    define(
      state,
      addDefinitionOptions(env.command(verb).description(description).argument('<name>', 'its name')),
      async (run: Run<EnvOptions>, name: string) => {
        const s = await run.session();
        const written =
          verb === 'create'
            ? await s.service.createEnvironment(s.actor, definition(name, run.opts))
            : await s.service.updateEnvironment(s.actor, definition(name, run.opts));
        run.out.result(written, () => `environment ${written.name} ${verb}d`);
      },
    );
  }
}
