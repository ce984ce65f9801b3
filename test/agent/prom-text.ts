/**
 * The Prometheus text exposition format, read back: the metric families a `/metrics` scrape declares
 * (`# TYPE` lines) and its samples, and the metric names a PromQL expression selects. For tests of
 * the agent's metrics, its dashboard and its alerting rules.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Scrape {
  /** Family name -> type (`counter`, `gauge`, `histogram`, `summary`, `untyped`). */
  readonly families: ReadonlyMap<string, string>;
  readonly samples: readonly Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses a scrape; throws on a line that is neither a comment nor a sample. */
export function parseScrape(text: string): Scrape {
  const families = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) families.set(m[1] as string, m[2] as string);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return { families, samples };
}

/**
 * The value of the one sample `name` whose labels include `labels`; undefined when there is none,
 * and an error when several match (the caller's selector is ambiguous).
 */
export function sampleValue(scrape: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = scrape.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/**
 * Whether the scrape exposes metric `name`: a family of that name, or a histogram's (summary's)
 * `_bucket`, `_sum` or `_count` series.
 */
export function exposes(scrape: Scrape, name: string): boolean {
  if (scrape.families.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return false;
  const type = scrape.families.get(m[1] as string);
  return type === 'histogram' || (type === 'summary' && m[2] !== 'bucket');
}

/** PromQL words that are not metric names: functions, aggregations, keywords. */
const PROMQL_WORDS = new Set(
  (
    'sum min max avg group stddev stdvar count count_values bottomk topk quantile ' +
    'by without on ignoring group_left group_right bool and or unless offset ' +
    'abs absent absent_over_time ceil changes clamp clamp_max clamp_min day_of_month day_of_week ' +
    'days_in_month delta deriv exp floor histogram_quantile holt_winters hour idelta increase irate ' +
    'label_join label_replace ln log2 log10 minute month predict_linear rate resets round scalar sgn ' +
    'sort sort_desc sqrt time timestamp vector year avg_over_time min_over_time max_over_time ' +
    'sum_over_time count_over_time quantile_over_time stddev_over_time stdvar_over_time ' +
    'last_over_time present_over_time inf nan'
  ).split(' '),
);

/**
 * The metric names a PromQL expression selects. Strings, label matchers (`{...}`), ranges and
 * durations (`[...]`), the label lists of `by`/`without`/`on`/`ignoring`/`group_*`, Grafana's
 * `$variables` and numbers are removed first; every identifier left that is not a PromQL word is a
 * metric name.
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_:]*\}?/g, ' ')
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?[smhdwy]?\b/gi, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    if (!PROMQL_WORDS.has(word.toLowerCase())) names.add(word);
  }
  return [...names];
}
