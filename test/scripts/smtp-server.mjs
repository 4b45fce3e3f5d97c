// A real SMTP server on loopback for the tests of scripts/monitor.sh (npm package smtp-server).
//
//   SMTP_TEST_USER=u SMTP_TEST_PASS=p node test/scripts/smtp-server.mjs <dir> <mode> [key.pem cert.pem]
//
// mode: none      plain SMTP, AUTH allowed without TLS (loopback only)
//       starttls  plain SMTP that offers STARTTLS and refuses AUTH until the connection is encrypted
//       tls       implicit TLS from the first byte (smtps)
// AUTH PLAIN or LOGIN with the given user and password is required before MAIL FROM.
// Listens on a free 127.0.0.1 port and writes it to <dir>/port. Every message received is written to
// <dir>/mail-<n>.eml (raw) and <dir>/mail-<n>.json (envelope, authenticated user, whether TLS was on,
// decoded Subject and body). Every AUTH attempt is logged to <dir>/auth.log as "ok <user>" or "fail <user>".
// Stops on SIGTERM.
import { SMTPServer } from "smtp-server";
import { appendFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import process from "node:process";

const [dir, mode = "none", keyFile, certFile] = process.argv.slice(2);
const user = process.env.SMTP_TEST_USER ?? "";
const pass = process.env.SMTP_TEST_PASS ?? "";
if (!dir || !["none", "starttls", "tls"].includes(mode) || !user || !pass || (mode !== "none" && (!keyFile || !certFile))) {
  console.error("usage: SMTP_TEST_USER=u SMTP_TEST_PASS=p smtp-server.mjs <dir> none|starttls|tls [key.pem cert.pem]");
  process.exit(2);
}

function writeAtomic(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** RFC 2047 encoded-words (B and Q) in a header value; whitespace between adjacent encoded-words is dropped. */
function decodeWords(value) {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, "$1")
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, _charset, enc, text) => {
      if (enc.toUpperCase() === "B") return Buffer.from(text, "base64").toString("utf8");
      const bytes = text.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_x, h) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, "latin1").toString("utf8");
    });
}

function parseMessage(raw) {
  const text = raw.toString("utf8");
  const split = text.search(/\r?\n\r?\n/);
  const head = split === -1 ? text : text.slice(0, split);
  const bodyRaw = split === -1 ? "" : text.slice(split).replace(/^\r?\n\r?\n/, "");
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const cte = (headers["content-transfer-encoding"] ?? "7bit").toLowerCase();
  let body = bodyRaw;
  if (cte === "base64") body = Buffer.from(bodyRaw.replace(/\s+/g, ""), "base64").toString("utf8");
  else if (cte === "quoted-printable") {
    body = Buffer.from(
      bodyRaw.replace(/=\r?\n/g, "").replace(/=([0-9A-Fa-f]{2})/g, (_x, h) => String.fromCharCode(parseInt(h, 16))),
      "latin1",
    ).toString("utf8");
  }
  return { headers, subject: decodeWords(headers.subject ?? ""), body: body.replace(/\r\n/g, "\n") };
}

let count = 0;
const server = new SMTPServer({
  secure: mode === "tls",
  key: mode === "none" ? undefined : readFileSync(keyFile),
  cert: mode === "none" ? undefined : readFileSync(certFile),
  hideSTARTTLS: mode === "none",
  allowInsecureAuth: mode === "none",
  authMethods: ["PLAIN", "LOGIN"],
  authOptional: false,
  logger: false,
  banner: "wechat-token-broker test SMTP server",
  onAuth(auth, _session, callback) {
    const good = auth.username === user && auth.password === pass;
    appendFileSync(join(dir, "auth.log"), `${good ? "ok" : "fail"} ${auth.username}\n`);
    if (!good) {
      const err = new Error("Invalid username or password");
      err.responseCode = 535;
      callback(err);
      return;
    }
    callback(null, { user: auth.username });
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on("data", (c) => chunks.push(c));
    stream.on("end", () => {
      const raw = Buffer.concat(chunks);
      const n = ++count;
      const parsed = parseMessage(raw);
      writeFileSync(join(dir, `mail-${n}.eml`), raw);
      writeAtomic(
        join(dir, `mail-${n}.json`),
        JSON.stringify(
          {
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            user: session.user ?? null,
            secure: Boolean(session.secure),
            subject: parsed.subject,
            headers: parsed.headers,
            body: parsed.body,
          },
          null,
          2,
        ),
      );
      callback(null, `queued as test-${n}`);
    });
  },
});

server.on("error", (err) => console.error(`smtp-server: ${err.message}`));
server.listen(0, "127.0.0.1", () => {
  const address = server.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  writeAtomic(join(dir, "port"), `${port}\n`);
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
