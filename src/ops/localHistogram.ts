// A prom-client Histogram whose hot series record into plain numbers, read when the registry is. prom-client's
// `observe` validates and hashes the label set on every call (a visible share of a token hit's CPU), and it has no
// way to hand over observations in bulk; so the series the hot path uses are kept here and added to what
// prom-client reports. The exposition is the same as prom-client's own (cumulative `le` buckets, +Inf, _sum, _count).
import {
  Histogram,
  type HistogramConfiguration,
  type LabelValues,
  type MetricObjectWithValues,
  type MetricValueWithName,
} from "prom-client";

export interface HistogramSeries {
  observe(seconds: number): void;
}

/** One label set: a count per bucket (not cumulative), their sum and count. */
class Series implements HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string | number>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

// prom-client's histograms build their exposition in `getForPromString` (series labels as `sharedLabels` beside
// `le`); the registry's text and `get()` both read it. Its typings leave that method and `sharedLabels` out. If a
// prom-client release drops the method, the local series vanish from the exposition: the equivalence test fails.
type Exported<L extends string> = MetricValueWithName<L> & { sharedLabels?: Record<string, string | number>; exemplar?: null };
type Exposition<L extends string> = MetricObjectWithValues<Exported<L>>;
const base = Histogram.prototype as unknown as { getForPromString(this: Histogram): Promise<Exposition<string>> };

export class LocalHistogram<L extends string> extends Histogram<L> {
  private readonly metricName: string;
  private readonly bounds: number[];
  private readonly local: Series[] = [];

  constructor(config: HistogramConfiguration<L> & { buckets: number[] }) {
    super(config);
    this.metricName = config.name;
    this.bounds = [...config.buckets].sort((a, b) => a - b);
  }

  /** A series to keep and observe into; it is reported (with zero counts) from now on. */
  series(labels: Partial<Record<L, string | number>>): HistogramSeries {
    const s = new Series(labels as Record<string, string | number>, this.bounds);
    this.local.push(s);
    return s;
  }

  async getForPromString(): Promise<Exposition<L>> {
    const reported = (await base.getForPromString.call(this)) as Exposition<L>;
    const values = [...reported.values];
    const bucket = `${this.metricName}_bucket`;
    for (const s of this.local) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        values.push({
          labels: { le: this.bounds[i] } as LabelValues<L>,
          sharedLabels: s.labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      }
      values.push(
        { labels: { le: "+Inf" } as LabelValues<L>, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.metricName}_sum` },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.metricName}_count` },
      );
    }
    return { ...reported, values };
  }

  override reset(): void {
    super.reset();
    // prom-client's constructor resets too, before this class's fields exist.
    const local = this.local as Series[] | undefined;
    for (const s of local ?? []) s.clear();
  }
}
