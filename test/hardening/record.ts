// Hardening tests are declared with scenario(): a node:test test that also records a row of docs/reliability.md
// ({ class, scenario, cases, outcome, result }). The rows of a file are written when the file finishes, and the
// document is rebuilt from every file's rows (scripts/reliability-report.ts).
import { after, test, type TestContext } from "node:test";
import { basename } from "node:path";
import { writeRecord, writeReport, type Result, type Row } from "../../scripts/reliability-report";

export type HazardClass =
  | "Bad input and abuse"
  | "Authentication"
  | "Configuration at start-up"
  | "Redis faults"
  | "Upstream faults"
  | "Process faults"
  | "Clock skew"
  | "Secrets";

export interface ScenarioRun {
  t: TestContext;
  /** Sets how many cases the test checked (requests, generated inputs, runs); default 1. */
  cases(n: number): void;
  /** Adds to the case count. */
  count(n?: number): void;
  /** Replaces the outcome recorded for a pass (when it depends on what the environment supports). */
  outcome(text: string): void;
  /** Skips the rest of the test, recording why (e.g. redis-server built without TLS). */
  skip(reason: string): void;
}

export interface ScenarioOptions {
  class: HazardClass;
  /** What the broker does when the test passes, in words. */
  outcome: string;
  timeout?: number;
  /**
   * A bug found by this test and reported for code this suite may not change: the test runs and must still fail.
   * It is recorded as a known bug, and the run stays green. When the bug is fixed the test passes, and node:test
   * reports the todo as passing: remove `knownBug` then.
   */
  knownBug?: string;
}

class Skip extends Error {}

/** One record per process: each test file is its own process under `node --test`. */
const rows: Row[] = [];
const ran = new Set<Row>();
let registered = false;

function register(file: string): void {
  if (registered) return;
  registered = true;
  after(() => {
    // A filtered run (--test-name-pattern, --test-only) leaves the file's previous record alone: a record holds
    // every scenario of its file or none.
    if (ran.size !== rows.length) return;
    writeRecord({ file, rows });
    writeReport();
  });
}

/** The calling test file's name, without `.test.ts`. */
function callerFile(): string {
  const stack = new Error().stack ?? "";
  const m = /\/test\/hardening\/([^/:]+)\.test\.ts/.exec(stack);
  if (!m) throw new Error("scenario() must be called from a test/hardening/*.test.ts file");
  return basename(m[1]!);
}

export function scenario(name: string, opts: ScenarioOptions, fn: (run: ScenarioRun) => Promise<void>): void {
  register(callerFile());
  const row: Row = { class: opts.class, scenario: name, cases: 1, outcome: opts.outcome, result: "fail" };
  rows.push(row);
  const testOpts = { timeout: opts.timeout ?? 60_000, ...(opts.knownBug !== undefined ? { todo: opts.knownBug } : {}) };
  void test(name, testOpts, async (t) => {
    ran.add(row);
    let outcome = opts.outcome;
    let cases = 1;
    const run: ScenarioRun = {
      t,
      cases: (n) => void (cases = n),
      count: (n = 1) => void (cases += n),
      outcome: (text) => void (outcome = text),
      skip: (reason) => {
        throw new Skip(reason);
      },
    };
    let result: Result;
    try {
      await fn(run);
      result = "pass";
    } catch (err) {
      if (err instanceof Skip) {
        row.cases = 0;
        row.outcome = `skipped: ${err.message}`;
        row.result = "skipped";
        t.skip(err.message);
        return;
      }
      row.cases = cases;
      if (opts.knownBug !== undefined) {
        row.outcome = opts.knownBug;
        row.result = "known bug";
      } else {
        row.outcome = `FAILED: ${firstLine(err)}`;
        row.result = "fail";
      }
      throw err;
    }
    row.cases = cases;
    row.outcome = opts.knownBug !== undefined ? `fixed (the known bug no longer reproduces): ${outcome}` : outcome;
    row.result = result;
  });
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split("\n")[0] ?? "").slice(0, 200);
}
