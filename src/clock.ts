// Time is injected everywhere so tests can run a broker whose clock is off, and so timers can be faked.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", done);
      clearTimeout(t);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Uniform jitter: `ms` ± `fraction` of it. */
export function jitter(ms: number, fraction = 0.2): number {
  return Math.max(0, Math.round(ms * (1 - fraction + Math.random() * 2 * fraction)));
}

/** The quota day of WeChat (natural day in Beijing time, UTC+8), as `YYYY-MM-DD`. */
export function quotaDay(nowMs: number): string {
  return new Date(nowMs + 8 * 3600_000).toISOString().slice(0, 10);
}

/** Epoch ms at which the quota day containing `nowMs` ends (next 00:00 Beijing time). */
export function quotaDayEnd(nowMs: number): number {
  const shifted = nowMs + 8 * 3600_000;
  const nextMidnightShifted = Math.floor(shifted / 86_400_000) * 86_400_000 + 86_400_000;
  return nextMidnightShifted - 8 * 3600_000;
}
