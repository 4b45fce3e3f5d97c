import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { checkHealth, defaultHealthcheckUrl, parseTimeout } from "../../src/cli/healthcheck";
import { freePort } from "../helpers/ports";

const ROOT = resolve(__dirname, "..", "..");

interface Stub {
  port: number;
  hits: string[];
  close(): Promise<void>;
}

/** A server answering every request with `status`, or never answering when status is "hang". */
function startStub(status: number | "hang", tls?: { key: Buffer; cert: Buffer }): Promise<Stub> {
  const hits: string[] = [];
  const sockets = new Set<Socket>();
  const handler: http.RequestListener = (req, res) => {
    hits.push(`${req.method} ${req.url}`);
    if (status === "hang") return;
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: status === 200 ? "ok" : "failing" }));
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolveStub) => {
    server.listen(0, "127.0.0.1", () => {
      resolveStub({
        port: (server.address() as AddressInfo).port,
        hits,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Runs the real subcommand through commander in a child process; returns exit code and output. */
function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = [
    'const { Command } = require("commander");',
    'const { registerHealthcheck } = require("./src/cli/healthcheck");',
    "const program = new Command();",
    "registerHealthcheck(program);",
    'program.parseAsync(process.argv.slice(1), { from: "user" }).catch((e) => { console.error(e); process.exitCode = 2; });',
  ].join("\n");
  return new Promise((done) => {
    const child = spawn(process.execPath, ["--require", "tsx/cjs", "-e", script, "--", "healthcheck", ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

void describe("healthcheck: checkHealth", () => {
  void test("200 is healthy and GETs /api/health/live", async () => {
    const stub = await startStub(200);
    try {
      const r = await checkHealth({ env: { PORT: String(stub.port) }, timeoutMs: 2000 });
      assert.equal(r.ok, true, r.message);
      assert.equal(r.status, 200);
      assert.match(r.message, /^healthy: HTTP 200 from http:\/\/127\.0\.0\.1:\d+\/api\/health\/live/);
      assert.deepEqual(stub.hits, ["GET /api/health/live"]);
    } finally {
      await stub.close();
    }
  });

  void test("503 is unhealthy", async () => {
    const stub = await startStub(503);
    try {
      const r = await checkHealth({ url: `http://127.0.0.1:${stub.port}/api/health/live`, timeoutMs: 2000 });
      assert.equal(r.ok, false);
      assert.equal(r.status, 503);
      assert.match(r.message, /^unhealthy: HTTP 503/);
    } finally {
      await stub.close();
    }
  });

  void test("connection refused is unhealthy", async () => {
    const port = await freePort();
    const r = await checkHealth({ env: { PORT: String(port) }, timeoutMs: 2000 });
    assert.equal(r.ok, false);
    assert.match(r.message, /connection refused/);
  });

  void test("no answer within the timeout is unhealthy, and the check returns at the timeout", async () => {
    const stub = await startStub("hang");
    try {
      const t0 = Date.now();
      const r = await checkHealth({ env: { PORT: String(stub.port) }, timeoutMs: 300 });
      const elapsed = Date.now() - t0;
      assert.equal(r.ok, false);
      assert.match(r.message, /no answer .* within 300 ms/);
      assert.ok(elapsed < 5000, `returned after ${elapsed} ms`);
      assert.equal(stub.hits.length, 1);
    } finally {
      await stub.close();
    }
  });

  void test("a 3xx is not healthy (no redirects followed)", async () => {
    const stub = await startStub(302);
    try {
      const r = await checkHealth({ env: { PORT: String(stub.port) } });
      assert.equal(r.ok, false);
      assert.equal(r.status, 302);
    } finally {
      await stub.close();
    }
  });
});

void describe("healthcheck: URL and options", () => {
  void test("defaults to http://127.0.0.1:8084, https when TLS is configured", () => {
    assert.equal(defaultHealthcheckUrl({}), "http://127.0.0.1:8084/api/health/live");
    assert.equal(defaultHealthcheckUrl({ PORT: "9000" }), "http://127.0.0.1:9000/api/health/live");
    assert.equal(defaultHealthcheckUrl({ TLS_PFX_FILE: "/run/secrets/tls.pfx" }), "https://127.0.0.1:8084/api/health/live");
    assert.equal(defaultHealthcheckUrl({ TLS_CERT_FILE: "/c.pem", TLS_KEY_FILE: "/k.pem" }), "https://127.0.0.1:8084/api/health/live");
    assert.equal(defaultHealthcheckUrl({ TLS_PFX_FILE: "" }), "http://127.0.0.1:8084/api/health/live");
    assert.throws(() => defaultHealthcheckUrl({ PORT: "http" }), /PORT must be a TCP port/);
    assert.throws(() => defaultHealthcheckUrl({ PORT: "70000" }), /PORT must be a TCP port/);
  });

  void test("timeouts: bare seconds, s and ms", () => {
    assert.equal(parseTimeout("3"), 3000);
    assert.equal(parseTimeout("3s"), 3000);
    assert.equal(parseTimeout("2.5s"), 2500);
    assert.equal(parseTimeout("500ms"), 500);
    assert.throws(() => parseTimeout("soon"), /--timeout/);
    assert.throws(() => parseTimeout("0"), /--timeout/);
  });
});

const haveOpenssl = spawnSync("openssl", ["version"]).status === 0;

void describe("healthcheck: https with a self-signed certificate", { skip: haveOpenssl ? false : "openssl not found" }, () => {
  let dir = "";
  let tls: { key: Buffer; cert: Buffer };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "wtb-hc-"));
    const r = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=broker.example.internal",
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  void test("TLS_CERT_FILE selects https and the local self-signed certificate is accepted", async () => {
    const stub = await startStub(200, tls);
    try {
      const r = await checkHealth({
        env: { PORT: String(stub.port), TLS_CERT_FILE: join(dir, "cert.pem"), TLS_KEY_FILE: join(dir, "key.pem") },
        timeoutMs: 3000,
      });
      assert.equal(r.ok, true, r.message);
      assert.match(r.message, /https:\/\/127\.0\.0\.1/);
    } finally {
      await stub.close();
    }
  });

  void test("plain http against the TLS port is unhealthy", async () => {
    const stub = await startStub(200, tls);
    try {
      const r = await checkHealth({ env: { PORT: String(stub.port) }, timeoutMs: 2000 });
      assert.equal(r.ok, false);
    } finally {
      await stub.close();
    }
  });
});

void describe("healthcheck: the subcommand's exit codes", () => {
  void test("exit 0 and one line on stdout on 200", async () => {
    const stub = await startStub(200);
    try {
      const r = await runCli([], { PORT: String(stub.port) });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split("\n").length, 1);
      assert.match(r.stdout, /^healthy: HTTP 200/);
    } finally {
      await stub.close();
    }
  });

  void test("exit 1 on 503", async () => {
    const stub = await startStub(503);
    try {
      const r = await runCli(["--url", `http://127.0.0.1:${stub.port}/api/health/live`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^unhealthy: HTTP 503/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    } finally {
      await stub.close();
    }
  });

  void test("exit 1 on connection refused", async () => {
    const port = await freePort();
    const r = await runCli([], { PORT: String(port) });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /connection refused/);
  });

  void test("exit 1 on timeout, promptly", async () => {
    const stub = await startStub("hang");
    try {
      const t0 = Date.now();
      const r = await runCli(["--timeout", "400ms"], { PORT: String(stub.port) });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /within 400 ms/);
      assert.ok(Date.now() - t0 < 10_000);
    } finally {
      await stub.close();
    }
  });

  void test("exit 1 on a bad --timeout", async () => {
    const r = await runCli(["--timeout", "forever"], { PORT: "1" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--timeout must be/);
  });
});
