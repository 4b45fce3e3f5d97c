// The rate bound of the lock census: however many diagnoses and scrapes ask, the census is taken at most once per
// interval and every caller meanwhile shares its result.

/** A value computed at most once per `refreshMs`, shared by every caller meanwhile (one computation in flight). */
export class Refreshing<T> {
  private value: { at: number; result: T } | null = null;
  private inflight: Promise<T> | null = null;

  constructor(
    private readonly take: () => Promise<T>,
    private readonly refreshMs: number,
    private readonly now: () => number,
  ) {}

  get(): Promise<T> {
    if (this.value && this.now() - this.value.at < this.refreshMs) return Promise.resolve(this.value.result);
    this.inflight ??= this.take()
      .then((result) => {
        this.value = { at: this.now(), result };
        return result;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }
}
