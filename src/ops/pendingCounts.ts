// Counts the hot path makes, kept as plain numbers and handed to their prom-client counter when it is collected (a
// scrape of /metrics, or any read of the registry): every prom-client update validates and hashes its label set
// (~0.3 µs), a plain increment does not. The exposition is the same; a count shows up at the next read.
import type { Counter } from "prom-client";

export interface PendingSeries {
  /** Increments not yet handed to prom-client. */
  n: number;
}

export class PendingCounts<L extends string> {
  private readonly all: Array<PendingSeries & { labels: Partial<Record<L, string | number>> }> = [];

  constructor(private readonly counter: () => Counter<L>) {}

  /** One series: keep it, and add to its `n`. */
  series(labels: Partial<Record<L, string | number>>): PendingSeries {
    const s = { labels, n: 0 };
    this.all.push(s);
    return s;
  }

  /** The counter's `collect` hook: hands over what was counted since the last read. */
  flush(): void {
    const counter = this.counter();
    for (const s of this.all) {
      if (s.n === 0) continue;
      counter.inc(s.labels, s.n);
      s.n = 0;
    }
  }
}
