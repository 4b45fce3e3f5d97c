// Shared by the config tests: an in-memory file system for `readFile`, and assertions on ConfigError.
import assert from "node:assert/strict";
import { ConfigError, loadConfig, type Config, type ConfigIssue, type ReadFile } from "../../src/config";

export type Files = Record<string, string | Buffer>;

/** A readFile over `files`; other paths fail like fs does (ENOENT). Records what was read. */
export function fakeFs(files: Files = {}): { readFile: ReadFile; reads: string[] } {
  const reads: string[] = [];
  const readFile: ReadFile = (path) => {
    reads.push(path);
    const content = files[path];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
    return content;
  };
  return { readFile, reads };
}

export function load(env: NodeJS.ProcessEnv, files: Files = {}): Config {
  return loadConfig(env, { readFile: fakeFs(files).readFile });
}

/** Runs `fn`, expecting it to throw a ConfigError, and returns that error. */
export function captureConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a ConfigError");
}

/** Loads with an in-memory file system, expecting a ConfigError, and returns it. */
export function loadError(env: NodeJS.ProcessEnv, files: Files = {}): ConfigError {
  return captureConfigError(() => loadConfig(env, { readFile: fakeFs(files).readFile }));
}

/** The one issue at `source`; fails if there is none or several. */
export function issueAt(err: ConfigError, source: string): ConfigIssue {
  const found = err.issues.filter((i) => i.source === source);
  assert.equal(found.length, 1, `expected one issue at ${source}, got:\n${err.message}`);
  return found[0]!;
}

/** Asserts the error has an issue at `source` whose message matches `pattern`, and that the report shows it. */
export function assertIssue(err: ConfigError, source: string, pattern: RegExp | string): void {
  const issue = issueAt(err, source);
  if (typeof pattern === "string") assert.equal(issue.message, pattern);
  else assert.match(issue.message, pattern);
  assert.ok(err.message.includes(`${source}: ${issue.message}`), `the report should list it:\n${err.message}`);
}

export function sources(err: ConfigError): string[] {
  return err.issues.map((i) => i.source);
}

/** Whether `needle` occurs anywhere in `value`: strings, Buffers (as bytes), arrays and object values/keys. */
export function containsString(value: unknown, needle: string, seen = new Set<unknown>()): boolean {
  if (typeof value === "string") return value.includes(needle);
  if (Buffer.isBuffer(value)) return value.includes(needle) || value.toString("hex").includes(needle);
  if (typeof value !== "object" || value === null || seen.has(value)) return false;
  seen.add(value);
  if (Array.isArray(value)) return value.some((v) => containsString(v, needle, seen));
  return Object.entries(value).some(([k, v]) => k.includes(needle) || containsString(v, needle, seen));
}

/** An inline ACCOUNTS value with one valid official account. */
export const ONE_ACCOUNT = JSON.stringify([{ id: "shop", appId: "wx0000000000000001", appSecret: "fake-app-secret-0001" }]);

/** A valid API key (≥ 16 characters). */
export const KEY = "fake-api-key-0123456789";
