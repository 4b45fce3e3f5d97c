// A settable clock for tests that drive the simulator and the WeChat client through time.

/** 2026-03-10 10:00:00 in Beijing (02:00 UTC): far from any quota-day boundary. */
export const T0 = Date.UTC(2026, 2, 10, 2, 0, 0);

export class ManualClock {
  constructor(public t: number = T0) {}
  readonly now = (): number => this.t;
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
