/**
 * @module A small Prometheus text-format registry (exposition format 0.0.4): counters, gauges
 * and histograms with labels. Families render in registration order; series within a family in
 * the order given by the family's `order` function (first observation order by default).
 */
type Labels = Readonly<Record<string, string>>;

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function keyOf(labels: Labels): string {
  let key = '';
  for (const name in labels) key += `${name}\u0000${labels[name] ?? ''}\u0001`;
  return key;
}

interface Family {
  render(): string;
}

export class Counter implements Family {
  readonly #series = new Map<string, { labels: Labels; value: number }>();
  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly order?: (a: Labels, b: Labels) => number,
    alwaysShow = false,
  ) {
    if (alwaysShow) this.#series.set(keyOf({}), { labels: {}, value: 0 });
  }

  inc(labels: Labels = {}, by = 1): void {
    this.series(labels).value += by;
  }

  /** The series of `labels` (created at 0): a hot path keeps it and adds to its `value` directly. */
  series(labels: Labels): { value: number } {
    const key = keyOf(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, value: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  render(): string {
    const rows = [...this.#series.values()];
    if (this.order) rows.sort((a, b) => this.order?.(a.labels, b.labels) ?? 0);
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...rows.map((s) => `${this.name}${labelText(s.labels)} ${s.value}`)].join('\n');
  }
}

export class Gauge implements Family {
  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly read: () => number,
  ) {}

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

/** A family whose series are read when rendered (runtime figures, build info). */
export class Collected implements Family {
  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly type: 'gauge' | 'counter',
    private readonly read: () => ReadonlyArray<{ readonly labels: Labels; readonly value: number }>,
  ) {}

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, ...this.read().map((s) => `${this.name}${labelText(s.labels)} ${s.value}`)].join('\n');
  }
}

export interface HistogramSeries {
  readonly labels: Labels;
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram implements Family {
  readonly #series = new Map<string, HistogramSeries>();
  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {}

  observe(labels: Labels, seconds: number): void {
    this.record(this.series(labels), seconds);
  }

  /** The series of `labels` (created empty), for `record` on a hot path. */
  series(labels: Labels): HistogramSeries {
    const key = keyOf(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  record(series: HistogramSeries, seconds: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= (this.buckets[i] ?? Infinity)) series.counts[i] = (series.counts[i] ?? 0) + 1;
    series.sum += seconds;
    series.count += 1;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.#series.values()) {
      this.buckets.forEach((le, i) => lines.push(`${this.name}_bucket${labelText(s.labels, ['le', String(le)])} ${s.counts[i] ?? 0}`));
      lines.push(`${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Registry {
  readonly #families: Family[] = [];

  register<T extends Family>(family: T): T {
    this.#families.push(family);
    return family;
  }

  render(): string {
    return this.#families.map((f) => f.render()).join('\n') + '\n';
  }
}
