// `serve` failing to start says what to change: a busy port names PORT and how to find the other process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { BIN } from "../helpers/processes";
import { freePort } from "../helpers/ports";

test("a port already in use exits 1 naming PORT, the address and how to find the process holding it", async () => {
  const port = await freePort();
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(port, "127.0.0.1", resolve));
  try {
    const proc = spawn(process.execPath, [BIN, "serve"], {
      env: { PATH: process.env.PATH ?? "", PORT: String(port), ACCOUNTS: "[]", LOG_LEVEL: "error" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    proc.stderr.on("data", (d: Buffer) => (out += d.toString("utf8")));
    const code = await new Promise<number | null>((resolve) => proc.once("exit", resolve));
    assert.equal(code, 1, out);
    assert.match(out, new RegExp(`PORT=${port}`), out);
    assert.match(out, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`), out);
    assert.match(out, /ss -ltnp/, out);
    assert.match(out, /端口/, out);
    assert.doesNotMatch(out, /^\s+at /m, "no stack trace");
  } finally {
    holder.close();
  }
});
