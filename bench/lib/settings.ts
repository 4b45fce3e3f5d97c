// Benchmark parameters. Every figure can be overridden through an environment variable, so the same code runs the
// full suite (~10 minutes), a quick smoke run (BENCH_QUICK=1, under ~2 minutes) and the test's tiny run.
export interface Settings {
  quick: boolean;
  /** "compiled": build src/ with tsc into a private directory and run that (what production runs).
   *  "source": run bin/wechat-token-broker.js, which uses tsx when there is no dist/ (faster to start, for tests). */
  runtime: "compiled" | "source";
  hot: { connections: number[]; seconds: number; warmupSeconds: number; apiKeys: number; rate: number; wrk: WrkSettings };
  storm: { requests: number; brokers: number; latencyMs: number };
  soak: { seconds: number; brokers: number; lifetimeSec: number; rate: number; latencyMs: number };
  accounts: {
    sizes: number[];
    hotSeconds: number;
    connections: number;
    rounds: number;
    windowSeconds: number;
    lifetimeSec: number;
    latencyMs: number;
  };
  profile: { seconds: number; connections: number };
  ablation: { seconds: number; connections: number[]; rounds: number };
  economy: { replicas: number[]; seconds: number; lifetimeSec: number; reportSeconds: number; restartSeconds: number; pollMs: number };
}

/** The hot path's wrk runs (bench/lib/wrk.ts) and the open-loop run at a share of the broker's wrk capacity. */
export interface WrkSettings {
  enabled: boolean;
  connections: number;
  threads: number;
  /** Whole seconds (wrk's unit). */
  seconds: number;
  /** node:http and the broker measured in turn this many times (wrk, then the open loop): the verdicts take the
   * median round, the tables show every one. */
  rounds: number;
  /** Open-loop rate as a share of the broker's measured wrk requests/s (0: skip). */
  openLoopShare: number;
  /** Run the open-loop generator under the real-time scheduler where the machine allows it (BENCH_HOT_OPEN_REALTIME=0:
   * never), so that other work on its CPU does not pause it (bench/lib/openLoop.ts). */
  openLoopRealtime: boolean;
}

function num(name: string, full: number, quick: number, isQuick: boolean): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return isQuick ? quick : full;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

function list(name: string, full: number[], quick: number[], isQuick: boolean): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return isQuick ? quick : full;
  const values = raw.split(",").map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new Error(`${name} must be a comma-separated list of positive integers, got ${JSON.stringify(raw)}`);
  }
  return values;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const quick = env.BENCH_QUICK === "1" || env.BENCH_QUICK === "true";
  const runtime = env.BENCH_RUNTIME === "source" ? "source" : "compiled";
  return {
    quick,
    runtime,
    hot: {
      connections: list("BENCH_HOT_CONNECTIONS", [1, 16, 64], [1, 16, 64], quick),
      seconds: num("BENCH_HOT_SECONDS", 10, 2, quick),
      warmupSeconds: num("BENCH_HOT_WARMUP_SECONDS", 2, 0.5, quick),
      apiKeys: num("BENCH_HOT_API_KEYS", 10, 10, quick),
      // Open-loop latency at a rate none of the servers is saturated by (0: skip).
      rate: env.BENCH_HOT_RATE === "0" ? 0 : num("BENCH_HOT_RATE", 1000, 1000, quick),
      wrk: {
        enabled: env.BENCH_HOT_WRK !== "0",
        connections: num("BENCH_HOT_WRK_CONNECTIONS", 64, 64, quick),
        threads: num("BENCH_HOT_WRK_THREADS", 1, 1, quick),
        seconds: Math.max(1, Math.round(num("BENCH_HOT_WRK_SECONDS", 8, 3, quick))),
        rounds: Math.round(num("BENCH_HOT_WRK_ROUNDS", 3, 1, quick)),
        openLoopShare: env.BENCH_HOT_OPEN_SHARE === "0" ? 0 : num("BENCH_HOT_OPEN_SHARE", 0.5, 0.5, quick),
        openLoopRealtime: env.BENCH_HOT_OPEN_REALTIME !== "0",
      },
    },
    storm: {
      requests: num("BENCH_STORM_REQUESTS", 2000, 400, quick),
      brokers: num("BENCH_STORM_BROKERS", 4, 4, quick),
      latencyMs: num("BENCH_STORM_LATENCY_MS", 50, 50, quick),
    },
    soak: {
      seconds: num("BENCH_SOAK_SECONDS", 180, 20, quick),
      brokers: num("BENCH_SOAK_BROKERS", 4, 4, quick),
      lifetimeSec: num("BENCH_SOAK_LIFETIME_SEC", 30, 8, quick),
      rate: num("BENCH_SOAK_RATE", 200, 100, quick),
      latencyMs: num("BENCH_SOAK_LATENCY_MS", 50, 50, quick),
    },
    accounts: {
      sizes: list("BENCH_ACCOUNTS", [1, 100, 1000], [1, 10], quick),
      hotSeconds: num("BENCH_ACCOUNTS_HOT_SECONDS", 5, 1, quick),
      connections: num("BENCH_ACCOUNTS_CONNECTIONS", 64, 64, quick),
      rounds: num("BENCH_ACCOUNTS_ROUNDS", 3, 1, quick),
      windowSeconds: num("BENCH_ACCOUNTS_WINDOW_SECONDS", 60, 10, quick),
      lifetimeSec: num("BENCH_ACCOUNTS_LIFETIME_SEC", 20, 6, quick),
      latencyMs: num("BENCH_ACCOUNTS_LATENCY_MS", 50, 50, quick),
    },
    profile: {
      seconds: num("BENCH_PROFILE_SECONDS", 10, 3, quick),
      connections: num("BENCH_PROFILE_CONNECTIONS", 64, 64, quick),
    },
    ablation: {
      seconds: num("BENCH_ABLATION_SECONDS", 5, 1, quick),
      connections: list("BENCH_ABLATION_CONNECTIONS", [64], [64], quick),
      rounds: num("BENCH_ABLATION_ROUNDS", 3, 1, quick),
    },
    economy: {
      replicas: list("BENCH_ECONOMY_REPLICAS", [1, 4], [1, 4], quick),
      seconds: num("BENCH_ECONOMY_SECONDS", 40, 12, quick),
      lifetimeSec: num("BENCH_ECONOMY_LIFETIME_SEC", 16, 8, quick),
      reportSeconds: num("BENCH_ECONOMY_REPORT_SECONDS", 12, 4, quick),
      // Longer than the wall-clock run's LOCAL_CACHE_TTL_MS (5 s), so replicas meet the emptied Redis in the window.
      restartSeconds: num("BENCH_ECONOMY_RESTART_SECONDS", 12, 8, quick),
      pollMs: num("BENCH_ECONOMY_POLL_MS", 250, 250, quick),
    },
  };
}

/** The BENCH_* variables set for this run, to print the exact command. */
export function benchEnvAssignments(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.keys(env)
    .filter((k) => k.startsWith("BENCH_"))
    .sort()
    .map((k) => `${k}=${env[k] ?? ""}`);
}
