/**
 * Drift: `drift detect` (findings, optionally remediated), `drift report` (counts per kind, every
 * ref with --all), and `reconcile` (anti-entropy between the durable tiers now). The same detection
 * as the agent's leader job (`drift.ts`), run once from the CLI.
 */
import { refKey } from '@summit-config/core';
import type { Command } from 'commander';
import { DRIFT_KINDS, type DriftFinding, type DriftReport, detectDrift } from '../drift.js';
import { type CliState, define, type Run } from './command.js';
import type { Session } from './context.js';
import { ref } from './input.js';
import { type Output, table } from './io.js';
import { notRemote } from './remote/service.js';

/** `work()` with a counter of the seconds it takes on stderr (when it is a terminal). */
async function timed<T>(run: Run<object>, label: string, work: () => Promise<T>): Promise<T> {
  const progress = run.out.progress(label);
  const started = Date.now();
  const timer = setInterval(() => progress.update(Math.round((Date.now() - started) / 1000), 's'), 200);
  timer.unref();
  try {
    return await work();
  } finally {
    clearInterval(timer);
    progress.done();
  }
}

function detect(run: Run<object>, s: Session, remediate: boolean, label: string): Promise<DriftReport> {
  const { remote } = s;
  if (remote) {
    // Through a server: the report of the last drift run there (its `startedAt` says when).
    if (remediate) notRemote('repairing drift');
    return remote.api.request<DriftReport>('GET', '/api/v1/drift');
  }
  s.rbac.check(s.actor, 'config:read');
  if (remediate) s.rbac.check(s.actor, 'config:write');
  return timed(run, label, () =>
    detectDrift({
      store: s.store,
      primary: s.primary,
      record: s.record,
      lagThreshold: s.config.drift.lagThreshold,
      lagGraceMs: s.config.drift.lagGraceMs,
      remediate,
      concurrency: s.config.drift.concurrency,
      ...(run.io.signal ? { signal: run.io.signal } : {}),
    }),
  );
}

function findingRows(findings: readonly DriftFinding[]): string[][] {
  return findings.map((f) => [
    f.kind,
    f.ref,
    f.instance ? `${f.instance} (${f.environment ?? '?'})` : (f.tier ?? '-'),
    f.message,
    f.remediated === undefined ? '-' : `${f.remediated ? 'repaired' : 'NOT repaired'}: ${f.remediation ?? ''}`,
  ]);
}

function printFindings(out: Output, report: DriftReport, findings: readonly DriftFinding[], extra: object = {}) {
  out.result({ ...report, findings, ...extra }, () => {
    const head = `${report.examined} ref(s) examined, ${findings.length} finding(s)${report.remediated ? `, ${report.remediated} repaired` : ''}`;
    if (findings.length === 0) return `No drift: ${head}.`;
    return `${table(['KIND', 'REF', 'WHERE', 'FINDING', 'REMEDIATION'], findingRows(findings))}\n${head}`;
  });
}

/** `reconcile`: the versions one durable tier lacks, copied from the other now. */
async function reconcile(run: Run<object>): Promise<void> {
  const s = await run.session();
  type Reconciled = Awaited<ReturnType<Session['store']['reconcile']>>;
  let tiers: readonly string[];
  let primary: string;
  let record: string | undefined;
  let report: Reconciled;
  if (s.remote) {
    // Through a server: it reconciles its own chain and names the tiers.
    const api = s.remote.api;
    const answer = await timed(run, 'reconciling', () =>
      api.request<Reconciled & { tiers: string[]; primary: string; record?: string }>('POST', '/api/v1/reconcile', {
        body: {},
      }),
    );
    ({ tiers, primary, record } = answer);
    const { tiers: _t, primary: _p, record: _r, ...rest } = answer;
    report = rest as Reconciled;
  } else {
    s.rbac.check(s.actor, 'config:write');
    report = await timed(run, 'reconciling', () => s.store.reconcile(run.io.signal ? { signal: run.io.signal } : {}));
    tiers = s.tiers;
    primary = s.primary.name;
    record = s.record?.name;
  }
  run.out.result({ tiers, ...report }, () => {
    if (!record) return `Nothing to reconcile: one durable tier (${primary}).`;
    const lines = [
      `${report.examined} ref(s) compared between ${primary} and ${record}: ${report.copied.length} version(s) copied, ${report.conflicts.length} conflict(s), ${report.incomplete.length} incomplete`,
    ];
    for (const c of report.copied) lines.push(`  copied ${c.ref} v${c.version} ${c.from} -> ${c.to}`);
    for (const c of report.conflicts) {
      lines.push(`  conflict ${c.ref} v${c.version}: ${c.from}'s content re-appended as v${c.reappendedAs}`);
    }
    for (const i of report.incomplete) lines.push(`  incomplete ${i.ref}: ${i.reason}`);
    return lines.join('\n');
  });
}

export function registerDriftCommands(program: Command, state: CliState): void {
  const drift = program
    .command('drift')
    .description('drift between the stores, documents that do not verify, instances that lag or rejected');

  define(
    state,
    drift
      .command('detect')
      .description('detect drift now (all refs, or one)')
      .argument('[ref]', 'only findings of this ref (<scope>/<id>)')
      .option('--env <environment>', 'only instance findings of this environment (store findings always show)')
      .option('--remediate', 'repair what can be repaired (rewrite bad documents, reconcile head differences)')
      .option('--exit-code', 'exit 1 when drift is found (for scripts and CI)'),
    async (run: Run<{ env?: string; remediate?: boolean; exitCode?: boolean }>, refText: string | undefined) => {
      const only = refText === undefined ? undefined : refKey(ref(refText));
      const s = await run.session();
      const report = await detect(run, s, run.opts.remediate === true, 'checking drift');
      const findings = report.findings.filter(
        (f) =>
          (only === undefined || f.ref === only) &&
          (run.opts.env === undefined || f.environment === undefined || f.environment === run.opts.env),
      );
      printFindings(run.out, report, findings);
      const open = findings.filter((f) => f.remediated !== true);
      return run.opts.exitCode && open.length > 0 ? 1 : 0;
    },
  );

  define(
    state,
    drift
      .command('report')
      .description('a drift report: counts per kind and every finding (with --all, every ref)')
      .option('--all', 'list every ref examined, with or without drift'),
    async (run: Run<{ all?: boolean }>) => {
      const s = await run.session();
      const report = await detect(run, s, false, 'checking drift');
      const counts = Object.fromEntries(
        DRIFT_KINDS.map((k) => [k, report.findings.filter((f) => f.kind === k).length]),
      );
      let refs: Array<{ ref: string; version: number | undefined; findings: number; kinds: string[] }> | undefined;
      if (run.opts.all) {
        const heads = s.remote ? await s.service.list(s.actor) : await s.store.listHeads({});
        const keys = new Set([...heads.map((h) => refKey(h.ref)), ...report.findings.map((f) => f.ref)]);
        refs = [...keys].sort().map((key) => {
          const mine = report.findings.filter((f) => f.ref === key);
          return {
            ref: key,
            version: heads.find((h) => refKey(h.ref) === key)?.version,
            findings: mine.length,
            kinds: [...new Set(mine.map((f) => f.kind))],
          };
        });
      }
      run.out.result({ ...report, counts, ...(refs ? { refs } : {}) }, () => {
        const lines = [
          `${report.examined} ref(s) examined; ${report.findings.length} finding(s): ${DRIFT_KINDS.map((k) => `${k} ${counts[k]}`).join(', ')}`,
        ];
        if (report.findings.length > 0) {
          lines.push(table(['KIND', 'REF', 'WHERE', 'FINDING', 'REMEDIATION'], findingRows(report.findings)));
        }
        if (refs) {
          lines.push(
            table(
              ['REF', 'HEAD', 'STATUS'],
              refs.map((r) => [
                r.ref,
                r.version === undefined ? '-' : `v${r.version}`,
                r.findings ? r.kinds.join(',') : 'ok',
              ]),
            ),
          );
        }
        return lines.join('\n');
      });
    },
  );

  define(
    state,
    program
      .command('reconcile')
      .description('copy versions one durable tier lacks from the other now (the agent also does this on a schedule)'),
    reconcile,
  );
}
