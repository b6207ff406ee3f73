/**
 * A small metrics registry and its Prometheus text exposition (format 0.0.4): counters, gauges and
 * histograms with labels, plus collectors run at each scrape. The API registers its own; the engine
 * and the agent can register theirs (placements, reconcile latency) on the same registry:
 *
 *   const placements = metrics.counter('fleet_engine_placements_total', 'Units placed.', ['result']);
 *   placements.inc({ result: 'placed' });
 *   const latency = metrics.histogram('fleet_engine_reconcile_seconds', 'Reconcile pass duration.');
 *   latency.observe(0.012);
 */

export type Labels = Readonly<Record<string, string>>;

export const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const all = Object.entries(labels);
  if (extra) all.push(extra);
  if (all.length === 0) return '';
  return `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}

abstract class Metric {
  protected readonly series = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
    for (const l of labelNames) if (!LABEL.test(l)) throw new Error(`bad label name ${l} of ${name}`);
  }
  abstract readonly type: string;

  protected key(labels: Labels): string {
    for (const k of Object.keys(labels)) {
      if (!this.labelNames.includes(k)) throw new Error(`metric ${this.name} has no label ${k}`);
    }
    return JSON.stringify(this.labelNames.map((n) => labels[n] ?? ''));
  }

  protected cell(labels: Labels) {
    const k = this.key(labels);
    let c = this.series.get(k);
    if (!c) {
      c = { labels: { ...labels }, value: 0 };
      this.series.set(k, c);
    }
    return c;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help.replace(/\n/g, ' ')}`, `# TYPE ${this.name} ${this.type}`];
    for (const c of this.series.values()) out.push(`${this.name}${labelText(c.labels)} ${num(c.value)}`);
    return out;
  }
}

export class Counter extends Metric {
  readonly type = 'counter';
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, labelNames);
    if (labelNames.length === 0) this.cell({}); // a plain counter shows 0 before its first event
  }
  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot go down`);
    this.cell(labels).value += by;
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';
  set(labels: Labels, value: number): void {
    this.cell(labels).value = value;
  }
  /** Forgets every series (a collector sets the current ones again). */
  reset(): void {
    this.series.clear();
  }
}

export class Histogram extends Metric {
  readonly type = 'histogram';
  private readonly hist = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    super(name, help, labelNames);
  }
  observe(value: number, labels: Labels = {}): void {
    const k = this.key(labels);
    let h = this.hist.get(k);
    if (!h) {
      h = { labels: { ...labels }, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.hist.set(k, h);
    }
    this.buckets.forEach((b, i) => {
      if (value <= b) h.counts[i]!++;
    });
    h.sum += value;
    h.count++;
  }
  override render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const h of this.hist.values()) {
      this.buckets.forEach((b, i) =>
        out.push(`${this.name}_bucket${labelText(h.labels, ['le', num(b)])} ${h.counts[i]}`),
      );
      out.push(`${this.name}_bucket${labelText(h.labels, ['le', '+Inf'])} ${h.count}`);
      out.push(`${this.name}_sum${labelText(h.labels)} ${num(h.sum)}`);
      out.push(`${this.name}_count${labelText(h.labels)} ${h.count}`);
    }
    return out;
  }
}

export type Collector = () => Promise<void> | void;

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();
  private readonly collectors: Collector[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }
  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets?: readonly number[],
  ): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }
  /** Runs before each scrape (e.g. to set gauges from a listing). */
  addCollector(c: Collector): void {
    this.collectors.push(c);
  }

  private add<M extends Metric>(m: M): M {
    const had = this.metrics.get(m.name);
    if (had) {
      if (had.type !== m.type) throw new Error(`metric ${m.name} is already a ${had.type}`);
      return had as M;
    }
    this.metrics.set(m.name, m);
    return m;
  }

  /** The exposition text; a failing collector is reported in fleet_metrics_collector_errors_total. */
  async render(): Promise<string> {
    const errors = this.counter(
      'fleet_metrics_collector_errors_total',
      'Collectors that failed at a scrape.',
    );
    for (const c of this.collectors) {
      try {
        await c();
      } catch {
        errors.inc();
      }
    }
    return [...this.metrics.values()].flatMap((m) => m.render()).join('\n') + '\n';
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
