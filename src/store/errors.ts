// Typed store failures, so the broker and the HTTP layer can tell "Redis is away" (503, retry later) from a bug.
// Messages are safe to log and to show: they carry the operation and the Redis client's message (host:port at
// most, never a password, never a token).

export class StoreError extends Error {
  readonly op: string;

  constructor(op: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreError";
    this.op = op;
  }
}

/** The store could not be reached in time (connection down, command timeout, failover in progress). */
export class StoreUnavailableError extends StoreError {
  constructor(op: string, message: string, options?: { cause?: unknown }) {
    super(op, message, options);
    this.name = "StoreUnavailableError";
  }
}

// Redis replies that mean "not now" rather than "wrong": loading a dataset, failing over, replica read-only.
const TRANSIENT_REPLY = /^(LOADING|MASTERDOWN|READONLY|BUSY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * A copy of a Redis client error with only name, message and code. ioredis attaches `command.args` to its
 * errors, and for the token scripts those args hold the access token: a raw ioredis error must never reach a
 * logger (pino's err serializer copies every enumerable property).
 */
export function sanitizeRedisError(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  const clean = new Error(e.message);
  clean.name = e.name;
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code === "string") (clean as NodeJS.ErrnoException).code = code;
  clean.stack = `${e.name}: ${e.message}`;
  return clean;
}

/**
 * Map an error from ioredis to a StoreError. Reply errors are the server's answer; everything else is transport.
 * `connection` is why the client is not connected (its last connection error, see redisClient.ts
 * connectionProblem): ioredis fails queued commands with its own words ("Reached the max retries per request
 * limit…", "Command timed out"), which say nothing about the cause an operator has to fix (a refused
 * connection, an untrusted certificate, a wrong password).
 */
export function toStoreError(op: string, err: unknown, connection?: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = sanitizeRedisError(err);
  const isReply = e.name === "ReplyError";
  if (!isReply || TRANSIENT_REPLY.test(e.message)) {
    let what = e.name === "MaxRetriesPerRequestError" ? "not connected to Redis" : e.message;
    if (!isReply && connection !== undefined) what += `; last connection error: ${connection}`;
    return new StoreUnavailableError(op, `token store unavailable (${op}): ${what}`, { cause: e });
  }
  return new StoreError(op, `token store error (${op}): ${e.message}`, { cause: e });
}
