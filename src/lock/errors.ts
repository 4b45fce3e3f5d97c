// The lock's one error: Redis could not be asked. Kept apart from the lock classes so the Redis lock and its
// inventory throw the same type without importing each other.
import { sanitizeRedisError } from "../store/errors";

/** Redis could not be asked (down, timed out): NOT the same as "someone else holds the lock" (null). */
export class LockUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LockUnavailableError";
  }
}

/** A failed Redis call of the lock, `what: <sanitized cause>` (never a password or a token). */
export function lockUnavailable(what: string, cause: unknown): LockUnavailableError {
  const clean = sanitizeRedisError(cause);
  return new LockUnavailableError(`${what}: ${clean.message}`, { cause: clean });
}
