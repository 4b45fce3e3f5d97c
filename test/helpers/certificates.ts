// A throw-away CA and a server certificate for 127.0.0.1, made with openssl for TLS tests.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCertificates {
  ca: string;
  cert: string;
  key: string;
}

/** Writes ca.pem, server.pem and server.key into `dir`; throws naming openssl's complaint when it fails. */
export function makeTestCertificates(dir: string): TestCertificates {
  const ossl = (...args: string[]) => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.error || r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr.slice(0, 300)}`);
  };
  ossl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    join(dir, "ca.key"),
    "-out",
    join(dir, "ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=wtb test CA",
  );
  ossl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    join(dir, "server.key"),
    "-out",
    join(dir, "server.csr"),
    "-subj",
    "/CN=127.0.0.1",
  );
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  ossl(
    "x509",
    "-req",
    "-in",
    join(dir, "server.csr"),
    "-CA",
    join(dir, "ca.pem"),
    "-CAkey",
    join(dir, "ca.key"),
    "-CAcreateserial",
    "-out",
    join(dir, "server.pem"),
    "-days",
    "2",
    "-extfile",
    join(dir, "ext.cnf"),
  );
  return { ca: join(dir, "ca.pem"), cert: join(dir, "server.pem"), key: join(dir, "server.key") };
}
