/**
 * The next time a 5-field cron expression matches, in UTC: what a policy's `nextRotationAt` is
 * computed with. The agent fires `runDue()` from node-cron (or an interval); this only has to say
 * when a policy with `cron` is due. (`node-cron` is a dependency of the agent, not of this package,
 * and it computes next runs only relative to the present, so the small evaluator lives here.)
 *
 * Fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or jan-dec) day-of-week
 * (0-7 or sun-sat, 0 and 7 are Sunday). Each is `*`, a value, a range `a-b`, a step `*\/n`,
 * `a-b/n` or `a/n`, or a comma list of these. As in Vixie cron, when both day fields are
 * restricted a day matches either.
 */
import { errors } from '@summit-config/core/internal';

interface CronField {
  readonly values: ReadonlySet<number>;
  /** The field was `*` (or `*\/1`): unrestricted. */
  readonly any: boolean;
}

export interface ParsedCron {
  readonly minute: CronField;
  readonly hour: CronField;
  readonly dayOfMonth: CronField;
  readonly month: CronField;
  readonly dayOfWeek: CronField;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const SPECS = [
  { name: 'minute', min: 0, max: 59, names: undefined },
  { name: 'hour', min: 0, max: 23, names: undefined },
  { name: 'day-of-month', min: 1, max: 31, names: undefined },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 0, max: 7, names: DAYS },
] as const;

function parseField(text: string, spec: (typeof SPECS)[number], expr: string): CronField {
  const bad = (why: string) =>
    errors.constraint(`cron ${JSON.stringify(expr)}: ${spec.name} field ${JSON.stringify(text)} ${why}`);
  const number = (raw: string): number => {
    const lower = raw.toLowerCase();
    const named = spec.names ? (spec.names as readonly string[]).indexOf(lower) : -1;
    if (named >= 0) return named + spec.min;
    if (!/^[0-9]{1,2}$/.test(raw)) throw bad(`has ${JSON.stringify(raw)}, not a number`);
    const n = Number(raw);
    if (n < spec.min || n > spec.max) throw bad(`has ${n}, outside ${spec.min}-${spec.max}`);
    return n;
  };
  const values = new Set<number>();
  let any = false;
  for (const part of text.split(',')) {
    if (part.length === 0) throw bad('has an empty list item');
    const [range, stepText, extra] = part.split('/');
    if (extra !== undefined || range === undefined) throw bad('has more than one "/"');
    let step = 1;
    if (stepText !== undefined) {
      if (!/^[0-9]{1,2}$/.test(stepText) || Number(stepText) < 1) throw bad('has a step that is not a positive number');
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === '*') {
      from = spec.min;
      to = spec.max;
      if (step === 1) any = true;
    } else if (range.includes('-')) {
      const [a, b, more] = range.split('-');
      if (more !== undefined || a === undefined || b === undefined) throw bad('has a malformed range');
      from = number(a);
      to = number(b);
      if (from > to) throw bad(`has a range ${from}-${to} that runs backwards`);
    } else {
      from = number(range);
      to = stepText === undefined ? from : spec.max;
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  if (spec.name === 'day-of-week' && values.has(7)) {
    values.delete(7);
    values.add(0);
  }
  return { values, any };
}

/** Parses and checks a cron expression; throws `CONSTRAINT_VIOLATION` naming the bad field. */
export function parseCron(expr: unknown): ParsedCron {
  if (typeof expr !== 'string' || expr.length > 200) throw errors.constraint('cron must be a string of 5 fields');
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) {
    throw errors.constraint(
      `cron ${JSON.stringify(expr)} must have 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}`,
    );
  }
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields.map((f, i) =>
    parseField(f, SPECS[i] as (typeof SPECS)[number], expr),
  ) as [CronField, CronField, CronField, CronField, CronField];
  const parsed = { minute, hour, dayOfMonth, month, dayOfWeek };
  if (nextCronTime(parsed, new Date(Date.UTC(2000, 0, 1))) === undefined) {
    throw errors.constraint(`cron ${JSON.stringify(expr)} never matches a real date`);
  }
  return parsed;
}

function dayMatches(cron: ParsedCron, d: Date): boolean {
  const dom = cron.dayOfMonth.values.has(d.getUTCDate());
  const dow = cron.dayOfWeek.values.has(d.getUTCDay());
  if (cron.dayOfMonth.any) return dow;
  if (cron.dayOfWeek.any) return dom;
  return dom || dow;
}

/** The first minute strictly after `after` that matches, or `undefined` within 8 years (e.g. `0 0 30 2 *`). */
export function nextCronTime(cron: ParsedCron | string, after: Date): Date | undefined {
  const c = typeof cron === 'string' ? parseCron(cron) : cron;
  const t = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
  const limit = after.getTime() + 8 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!c.month.values.has(t.getUTCMonth() + 1)) {
      t.setUTCMonth(t.getUTCMonth() + 1, 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!dayMatches(c, t)) {
      t.setUTCDate(t.getUTCDate() + 1);
      t.setUTCHours(0, 0, 0, 0);
      continue;
    }
    if (!c.hour.values.has(t.getUTCHours())) {
      t.setUTCHours(t.getUTCHours() + 1, 0, 0, 0);
      continue;
    }
    if (!c.minute.values.has(t.getUTCMinutes())) {
      t.setUTCMinutes(t.getUTCMinutes() + 1, 0, 0);
      continue;
    }
    return t;
  }
  return undefined;
}
