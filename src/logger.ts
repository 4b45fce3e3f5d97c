// One pino logger. Redaction is a second line of defence: the first is that secrets and tokens are never put in
// log objects at all (the WeChat client maps axios errors to UpstreamError before anything can log them).
import pino, { type Logger, type DestinationStream } from "pino";

export type { Logger };

export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  "*.access_token",
  "*.accessToken",
  "*.secret",
  "*.appSecret",
  "*.corpsecret",
  "*.password",
  "*.key",
];

export function createLogger(opts: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: opts.name ?? "wechat-token-broker",
      level: opts.level ?? process.env.LOG_LEVEL ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}

/** A logger that writes nowhere; for tests that do not inspect logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
