// A stand-in for the broker's HTTP endpoints, for the tests of scripts/*.sh.
//
//   node test/scripts/http-stub.mjs <dir>
//
// Listens on a free 127.0.0.1 port and writes it to <dir>/port. A request for /a/b.php answers with the file
// <dir>/routes/_a_b_php: its first line is the status code, the rest the body (text/plain). No file → 404.
// Tests change the answers by rewriting the files while the stub runs. Each request is appended to
// <dir>/requests.log (with its Authorization header, if any). Stops on SIGTERM.
import { createServer } from "node:http";
import { appendFileSync, existsSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { URL } from "node:url";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: http-stub.mjs <dir>");
  process.exit(2);
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://stub").pathname;
  const auth = req.headers.authorization ? ` [authorization: ${req.headers.authorization}]` : "";
  appendFileSync(join(dir, "requests.log"), `${req.method} ${req.url}${auth}\n`);
  const file = join(dir, "routes", path.replace(/[^A-Za-z0-9]/g, "_"));
  if (!existsSync(file)) {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
    return;
  }
  const text = readFileSync(file, "utf8");
  const nl = text.indexOf("\n");
  const status = Number(nl === -1 ? text : text.slice(0, nl));
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(nl === -1 ? "" : text.slice(nl + 1));
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  // written atomically: the test polls for the file
  writeFileSync(join(dir, "port.tmp"), `${port}\n`);
  renameSync(join(dir, "port.tmp"), join(dir, "port"));
});

process.on("SIGTERM", () => server.close(() => process.exit(0)));
