// The last line of defence of a long-running process (`serve`, `demo`): errors that nothing in the broker caught.
// Each is logged with its stack (through pino, secrets-safe) and counted (wtb_process_errors_total{kind}), then:
//
// - an unhandled promise rejection is survived. It is a promise nobody awaited, so no caller, request or refresh is
//   waiting on it: whatever the broker was doing went on along its awaited paths, and its state lives in the store,
//   not in the abandoned promise. The ones seen are leftovers of that kind (a Redis command failed with "Connection
//   is closed." after the client was closing). Node's default, ending the process, would turn such a leftover into
//   an outage of every account's tokens; logging and counting it makes it visible and fixable instead.
// - an uncaught exception ends the process: a synchronous throw unwound a stack mid-operation, and Node documents
//   that the process is not in a safe state to resume. A graceful close is tried first (stop accepting, finish
//   in-flight requests, release locks), bounded so that a wedged close cannot keep a broken process alive.
import type { Logger } from "./logger";

export type ProcessErrorKind = "unhandled_rejection" | "uncaught_exception";

/** Exit code after an uncaught exception (sysexits EX_SOFTWARE: an internal software error). */
export const CRASH_EXIT_CODE = 70;

/** What may be logged of an unknown thrown value: never the object itself (axios and ioredis errors carry
 * request options, headers and URLs), only its type, name, code, a scrubbed message and the stack's frames. */
export interface ErrorFacts {
  name?: string;
  /** For a thrown value that is not an Error: its typeof. */
  valueType?: string;
  code?: string;
  message: string;
  stack?: string[];
  cause?: ErrorFacts;
}

// A second line of defence behind "messages are built without values": credentials that a URL or header in a
// library's message could carry.
const CREDENTIALS = /\b(access_token|secret|corpsecret|appsecret|password|passwd|key|token)=([^&\s"',;]+)/gi;
const BEARER = /\bBearer\s+[\x21-\x7e]+/gi;
const URL_PASSWORD = /(\w+:\/\/[^/\s:@]*:)[^@\s/]+@/g;

function scrub(text: string): string {
  return text
    .replace(CREDENTIALS, "$1=[REDACTED]")
    .replace(BEARER, "Bearer [REDACTED]")
    .replace(URL_PASSWORD, "$1[REDACTED]@")
    .slice(0, 500);
}

export function errorFacts(value: unknown, depth = 0): ErrorFacts {
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; cause?: unknown };
    const facts: ErrorFacts = { name: e.name, message: scrub(e.message) };
    if (typeof e.code === "string" || typeof e.code === "number") facts.code = String(e.code);
    // Frames only: the stack's first lines repeat the message, already scrubbed above.
    const frames = (e.stack ?? "")
      .split("\n")
      .filter((l) => /^\s+at /.test(l))
      .map((l) => scrub(l.trim()));
    if (frames.length > 0) facts.stack = frames.slice(0, 30);
    if (e.cause !== undefined && depth < 3) facts.cause = errorFacts(e.cause, depth + 1);
    return facts;
  }
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    return { valueType: value === null ? "null" : typeof value, message: scrub(String(value)) };
  }
  return { valueType: typeof value, message: "a value that is not an Error (not logged: it may hold request options)" };
}

export interface ProcessGuardOptions {
  logger: Logger;
  /** How long the graceful close after an uncaught exception may take before the process exits anyway. */
  closeTimeoutMs: number;
  /** The process to guard; tests pass their own emitter. */
  proc?: Pick<NodeJS.Process, "on" | "off" | "exit">;
}

export interface ProcessGuard {
  /** Once the broker runs: where to count, and what to close before exiting. */
  attach(parts: { count?: (kind: ProcessErrorKind) => void; close?: () => Promise<void> }): void;
  uninstall(): void;
}

/** Logs per kind and minute beyond which further errors are counted but only summarised: a loop must not flood. */
const LOGS_PER_MINUTE = 20;

/** Installs the handlers. Install it before starting anything, attach the metrics and close once they exist. */
export function installProcessGuard(opts: ProcessGuardOptions): ProcessGuard {
  const proc = opts.proc ?? process;
  const log = opts.logger;
  let count: ((kind: ProcessErrorKind) => void) | undefined;
  let close: (() => Promise<void>) | undefined;
  let exiting = false;
  const window = { start: Date.now(), logged: { unhandled_rejection: 0, uncaught_exception: 0 }, suppressed: 0 };

  const shouldLog = (kind: ProcessErrorKind): boolean => {
    const now = Date.now();
    if (now - window.start >= 60_000) {
      if (window.suppressed > 0)
        log.error({ suppressed: window.suppressed }, "process errors not logged in the last minute (counted in wtb_process_errors_total)");
      window.start = now;
      window.logged = { unhandled_rejection: 0, uncaught_exception: 0 };
      window.suppressed = 0;
    }
    if (window.logged[kind] >= LOGS_PER_MINUTE) {
      window.suppressed++;
      return false;
    }
    window.logged[kind]++;
    return true;
  };

  const safeCount = (kind: ProcessErrorKind) => {
    try {
      count?.(kind);
    } catch {
      // Counting must never turn one error into two.
    }
  };

  const onRejection = (reason: unknown) => {
    safeCount("unhandled_rejection");
    if (shouldLog("unhandled_rejection")) {
      log.error(
        { kind: "unhandled_rejection", err: errorFacts(reason) },
        "unhandled promise rejection (a bug: please report it); the broker keeps running",
      );
    }
  };

  const onException = (err: unknown) => {
    safeCount("uncaught_exception");
    log.fatal({ kind: "uncaught_exception", err: errorFacts(err) }, "uncaught exception (a bug: please report it); closing and exiting");
    if (exiting) {
      // A second one while closing: the close itself is broken; stop now.
      proc.exit(CRASH_EXIT_CODE);
      return;
    }
    exiting = true;
    const bound = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), opts.closeTimeoutMs));
    const closed = (close ?? (() => Promise.resolve()))().then(
      () => "closed" as const,
      (e: unknown) => {
        log.error({ err: errorFacts(e) }, "error while closing after an uncaught exception");
        return "failed" as const;
      },
    );
    void Promise.race([closed, bound]).then((how) => {
      if (how === "timeout") log.error({ closeTimeoutMs: opts.closeTimeoutMs }, "graceful close did not finish in time; exiting anyway");
      proc.exit(CRASH_EXIT_CODE);
    });
  };

  proc.on("unhandledRejection", onRejection);
  proc.on("uncaughtException", onException);
  return {
    attach(parts) {
      count = parts.count ?? count;
      close = parts.close ?? close;
    },
    uninstall() {
      proc.off("unhandledRejection", onRejection);
      proc.off("uncaughtException", onException);
    },
  };
}
