// HTTPS material. Real certificates are made with the openssl CLI (CI installs it) in a temp directory.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config";
import { assertIssue, captureConfigError, loadError } from "./helpers";

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const needsOpenssl = { skip: hasOpenssl ? false : "openssl is not installed" };
const PASSPHRASE = "Sx20-pfx-passphrase-JHG7";

let dir = "";
const f = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), "wtb-tls-"));
  if (!hasOpenssl) return;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  openssl("req", "-x509", ...ec, "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=broker.test");
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other-key.pem");
  openssl("pkcs12", "-export", "-inkey", "key.pem", "-in", "cert.pem", "-out", "server.p12", "-passout", `pass:${PASSPHRASE}`);
  openssl("pkey", "-in", "key.pem", "-aes256", "-passout", "pass:fake-enc-pass", "-out", "encrypted-key.pem");
  writeFileSync(f("passphrase"), `${PASSPHRASE}\n`);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

void test("without TLS variables the broker speaks plain HTTP", () => {
  assert.equal(loadConfig({}).tls, null);
});

void test("a PEM certificate and key are read into buffers", needsOpenssl, () => {
  const c = loadConfig({ TLS_CERT_FILE: f("cert.pem"), TLS_KEY_FILE: f("key.pem") });
  assert.ok(c.tls && "cert" in c.tls);
  assert.ok(c.tls.cert.equals(readFileSync(f("cert.pem"))));
  assert.ok(c.tls.key.equals(readFileSync(f("key.pem"))));
});

void test("a PKCS#12 file opens with its passphrase from a file", needsOpenssl, () => {
  const c = loadConfig({ TLS_PFX_FILE: f("server.p12"), TLS_PFX_PASSPHRASE_FILE: f("passphrase") });
  assert.ok(c.tls && "pfx" in c.tls);
  assert.ok(c.tls.pfx.equals(readFileSync(f("server.p12"))));
  assert.equal(c.tls.passphrase, PASSPHRASE);
});

void test("a wrong PKCS#12 passphrase is reported without quoting any passphrase", needsOpenssl, () => {
  const wrong = "Sx21-wrong-pass-KLO4";
  const err = captureConfigError(() => loadConfig({ TLS_PFX_FILE: f("server.p12"), TLS_PFX_PASSPHRASE: wrong }));
  assertIssue(
    err,
    "TLS_PFX_FILE",
    new RegExp(
      `^${f("server.p12").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} cannot be opened \\(.+\\): is it a PKCS#12 file, and is the passphrase right\\?$`,
    ),
  );
  assert.ok(!err.message.includes(wrong) && !err.message.includes(PASSPHRASE));
});

void test("a key that does not belong to the certificate is refused", needsOpenssl, () => {
  const err = captureConfigError(() => loadConfig({ TLS_CERT_FILE: f("cert.pem"), TLS_KEY_FILE: f("other-key.pem") }));
  assertIssue(err, "TLS_KEY_FILE", new RegExp(`cannot be used with .*cert\\.pem \\(.*mismatch.*\\)$`));
});

void test("an encrypted PEM key is refused with the alternatives", needsOpenssl, () => {
  const err = captureConfigError(() => loadConfig({ TLS_CERT_FILE: f("cert.pem"), TLS_KEY_FILE: f("encrypted-key.pem") }));
  assertIssue(err, "TLS_KEY_FILE", /is encrypted: use an unencrypted key/);
});

void test("files that are not PEM are refused", () => {
  const err = loadError({ TLS_CERT_FILE: "/c", TLS_KEY_FILE: "/k" }, { "/c": "not a certificate", "/k": "not a key" });
  assertIssue(err, "TLS_CERT_FILE", "/c is not a PEM certificate");
  assertIssue(err, "TLS_KEY_FILE", "/k is not a PEM private key");
});

void test("a certificate needs its key and a key its certificate", () => {
  assertIssue(loadError({ TLS_CERT_FILE: "/c" }), "TLS_KEY_FILE", "required with TLS_CERT_FILE");
  assertIssue(loadError({ TLS_KEY_FILE: "/k" }), "TLS_CERT_FILE", "required with TLS_KEY_FILE");
});

void test("PKCS#12 and PEM are mutually exclusive", () => {
  assertIssue(
    loadError({ TLS_PFX_FILE: "/p", TLS_CERT_FILE: "/c", TLS_KEY_FILE: "/k" }),
    "TLS_PFX_FILE",
    "TLS_PFX_FILE and TLS_CERT_FILE/TLS_KEY_FILE are both set: use one form",
  );
});

void test("a passphrase without a PKCS#12 file is refused", () => {
  assertIssue(loadError({ TLS_PFX_PASSPHRASE: "fake-lonely-pass" }), "TLS_PFX_PASSPHRASE", "is only used with TLS_PFX_FILE");
});

void test("a missing TLS file is reported with its variable and path", () => {
  assertIssue(loadError({ TLS_PFX_FILE: "/etc/tls/none.p12" }), "TLS_PFX_FILE", "cannot read /etc/tls/none.p12: no such file");
});
