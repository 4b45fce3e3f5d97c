// Floor of the hot-path comparison: node:http answering every request with a fixed JSON body (the broker's own token
// answer, handed over in BENCH_BODY) and the same cache header. No routing, no parsing, nothing else.
import { createServer } from "node:http";

const body = Buffer.from(process.env.BENCH_BODY ?? "{}", "utf8");
const headers = { "Content-Type": "application/json; charset=utf-8", "Content-Length": String(body.length), "Cache-Control": "no-store" };

const server = createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
// Same keep-alive window as the broker (src/server.ts), so connections behave alike.
server.keepAliveTimeout = 5_000;
server.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1");
process.once("SIGTERM", () => server.close(() => process.exit(0)));
