// The hot-path yardstick: the smallest express 5 app that answers the token route with the same JSON (serialised per
// request, as the broker does) and the same app settings as the broker (no x-powered-by, no ETag). The broker's
// target is ≥ 0.9 of this app's throughput.
import express from "express";

const body = JSON.parse(process.env.BENCH_BODY ?? "{}") as Record<string, unknown>;
const app = express();
app.disable("x-powered-by");
app.set("etag", false);
app.get("/api/accounts/:accountId/token", (_req, res) => {
  res.set("Cache-Control", "no-store").json(body);
});
app.get("/ready", (_req, res) => {
  res.json({ ok: true });
});

const server = app.listen(Number(process.env.PORT), process.env.HOST ?? "127.0.0.1");
server.keepAliveTimeout = 5_000;
process.once("SIGTERM", () => server.close(() => process.exit(0)));
