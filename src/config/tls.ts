// HTTPS material: a PKCS#12 file (+ passphrase) or a PEM certificate + key. The files are read and tried
// with OpenSSL here, so a wrong passphrase or a key that does not match its certificate is a start-up problem
// listed with the others, not a crash when the server binds.
import { createSecureContext } from "node:tls";
import type { Inputs } from "./inputs";
import type { TlsConfig } from "./types";

/** OpenSSL's reason (`error:…::key values mismatch` → `key values mismatch`, `mac verify failure`): library text
 * of a fixed shape, never file content. */
function opensslReason(err: unknown): string {
  const message = err instanceof Error ? err.message : "";
  const reason = /(?:^|::)([a-z0-9 ,_-]{1,80})$/i.exec(message)?.[1];
  if (reason !== undefined) return reason;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unusable";
}

function tryContext(options: { pfx?: Buffer; passphrase?: string; cert?: Buffer; key?: Buffer }): string | undefined {
  try {
    createSecureContext(options);
    return undefined;
  } catch (err) {
    return opensslReason(err);
  }
}

/** null: plain HTTP; undefined: invalid (problems reported). */
export function loadTls(inputs: Inputs): TlsConfig | undefined {
  const problems = inputs.problems;
  const before = problems.count;
  const pfxPath = inputs.get("TLS_PFX_FILE");
  const certPath = inputs.get("TLS_CERT_FILE");
  const keyPath = inputs.get("TLS_KEY_FILE");
  const passphrase = inputs.valueOrFile("TLS_PFX_PASSPHRASE", "secret");
  const passphraseSet = inputs.getSecret("TLS_PFX_PASSPHRASE") !== undefined || inputs.get("TLS_PFX_PASSPHRASE_FILE") !== undefined;

  if (pfxPath !== undefined && (certPath !== undefined || keyPath !== undefined)) {
    problems.add("TLS_PFX_FILE", "TLS_PFX_FILE and TLS_CERT_FILE/TLS_KEY_FILE are both set: use one form");
  } else if (certPath !== undefined && keyPath === undefined) {
    problems.add("TLS_KEY_FILE", "required with TLS_CERT_FILE");
  } else if (keyPath !== undefined && certPath === undefined) {
    problems.add("TLS_CERT_FILE", "required with TLS_KEY_FILE");
  }
  if (passphraseSet && pfxPath === undefined) {
    problems.add(
      inputs.get("TLS_PFX_PASSPHRASE_FILE") !== undefined ? "TLS_PFX_PASSPHRASE_FILE" : "TLS_PFX_PASSPHRASE",
      "is only used with TLS_PFX_FILE",
    );
  }
  if (problems.count !== before) return undefined;

  if (pfxPath !== undefined) {
    const pfx = inputs.readBytes("TLS_PFX_FILE", pfxPath);
    if (pfx === undefined) return undefined;
    const failure = tryContext({ pfx, passphrase: passphrase?.value });
    if (failure !== undefined) {
      problems.add("TLS_PFX_FILE", `${pfxPath} cannot be opened (${failure}): is it a PKCS#12 file, and is the passphrase right?`);
      return undefined;
    }
    return passphrase === undefined ? { pfx } : { pfx, passphrase: passphrase.value };
  }
  if (certPath === undefined || keyPath === undefined) return null;

  const cert = inputs.readBytes("TLS_CERT_FILE", certPath);
  const key = inputs.readBytes("TLS_KEY_FILE", keyPath);
  if (cert !== undefined && !cert.includes("-----BEGIN CERTIFICATE-----")) {
    problems.add("TLS_CERT_FILE", `${certPath} is not a PEM certificate`);
  }
  if (key !== undefined && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString("latin1"))) {
    problems.add("TLS_KEY_FILE", `${keyPath} is not a PEM private key`);
  } else if (key !== undefined && key.includes("ENCRYPTED")) {
    problems.add(
      "TLS_KEY_FILE",
      `${keyPath} is encrypted: use an unencrypted key (protect the file instead), or a PKCS#12 file with a passphrase`,
    );
  }
  if (cert === undefined || key === undefined || problems.count !== before) return undefined;
  const failure = tryContext({ cert, key });
  if (failure !== undefined) {
    problems.add("TLS_KEY_FILE", `${keyPath} cannot be used with ${certPath} (${failure})`);
    return undefined;
  }
  return { cert, key };
}
