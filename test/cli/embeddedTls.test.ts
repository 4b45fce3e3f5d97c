// `sync` in embedded mode beside a broker that serves HTTPS with a self-signed PEM certificate: the command has the
// same files, so the default BROKER_URL (https://127.0.0.1:$PORT) trusts exactly that certificate and no other.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useRedisAndSimulator } from "../helpers/fixtures";
import { runCli, spawnServe, type ServeProcess } from "../helpers/processes";
import { freePort } from "../helpers/ports";
import { EXIT } from "../../src/cli/common";

const SECRET = "AppSecret-emb-tls-NEVER-print-4";
const { sim } = useRedisAndSimulator([{ appId: "wx_emb_tls", secret: SECRET }], { redis: false });

let dir: string;
let broker: ServeProcess;

function tlsEnv(name: string): Record<string, string> {
  return { TLS_CERT_FILE: join(dir, `${name}.pem`), TLS_KEY_FILE: join(dir, `${name}.key`) };
}

const env = () => ({
  ACCOUNTS: JSON.stringify([{ id: "gh_tls", appId: "wx_emb_tls", appSecret: SECRET }]),
  WECHAT_API_BASE: sim.url,
  HOST: "127.0.0.1",
  PORT: String(broker.port),
});

// Inside a describe, so that the file's simulator (started by a root-level before) is up when this before runs.
describe("embedded sync over HTTPS", () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wtb-emb-tls-"));
    for (const [name, cn] of [
      ["own", "broker.example"],
      ["other", "other.example"],
    ]) {
      // Issued for another name than 127.0.0.1: trusted because it is the broker's own, not because of its name.
      const r = spawnSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          `${name}.key`,
          "-out",
          `${name}.pem`,
          "-days",
          "2",
          "-subj",
          `/CN=${cn}`,
        ],
        { cwd: dir, encoding: "utf8" },
      );
      assert.equal(r.status, 0, r.stderr);
    }
    // The helper's readiness probe speaks plain HTTP, so wait for nothing and let the CLI's own answer tell.
    broker = await spawnServe(
      { ACCOUNTS: JSON.stringify([{ id: "gh_tls", appId: "wx_emb_tls", appSecret: SECRET }]), WECHAT_API_BASE: sim.url, ...tlsEnv("own") },
      { wait: "none", port: await freePort() },
    );
  });
  after(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function syncUntilUp(extra: Record<string, string>) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await runCli(["sync", "gh_tls", "--json"], { ...env(), ...extra }, 30_000);
      if (r.code !== EXIT.noBroker || !/connection refused/.test(r.stdout) || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  test("over HTTPS the default BROKER_URL reaches the broker, trusting its own certificate", async () => {
    const r = await syncUntilUp(tlsEnv("own"));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { accountId: string }).accountId, "gh_tls");
  });

  test("a broker presenting another certificate than the configured one is refused", async () => {
    const r = await syncUntilUp(tlsEnv("other"));
    assert.equal(r.code, EXIT.noBroker, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`no broker answers at https://127\\.0\\.0\\.1:${broker.port} \\(its TLS certificate`));
  });
});
