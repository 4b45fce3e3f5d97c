// The token-injecting proxy's cost (issue 13): latency of a small JSON API call made straight to the simulator and
// through the broker's proxy, and a multi-megabyte media upload and download through the proxy with the process's
// peak memory (bodies stream, so it should not grow with the body size). Bounded: a fixed number of calls, all on
// 127.0.0.1, broker and simulator in this process.
//
//   node --import tsx bench/proxy.ts            (BENCH_PROXY_CALLS=2000 BENCH_PROXY_MB=32 to change the sizes)
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../src/config";
import { createLogger } from "../src/logger";
import { startBroker } from "../src/server";
import { startSimulator } from "../src/simulator/server";

const CALLS = Math.min(20_000, Number(process.env.BENCH_PROXY_CALLS ?? 1000));
const MB = Math.min(64, Number(process.env.BENCH_PROXY_MB ?? 24));
const SECRET = "bench-proxy-secret-0001";

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeCalls(url: (i: number) => string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const t0 = performance.now();
    const r = await fetch(url(i));
    await r.arrayBuffer();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b);
}

function send(url: string, method: string, headers: Record<string, string | number>, body?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
    });
    req.on("error", reject);
    if (body) {
      // Written in 1 MB pieces as a file would be read.
      for (let o = 0; o < body.length; o += 1 << 20) req.write(body.subarray(o, o + (1 << 20)));
    }
    req.end();
  });
}

async function main(): Promise<void> {
  const sim = await startSimulator({ apps: [{ appId: "wx_bench_proxy", secret: SECRET }] });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const broker = await startBroker(
    loadConfig({
      PORT: String(port),
      HOST: "127.0.0.1",
      WECHAT_API_BASE: sim.url,
      WECOM_API_BASE: sim.wecomUrl,
      FOREIGN_PROBE_INTERVAL_SEC: "0",
      PROXY_BODY_KEEP_BYTES: String(1 << 20),
      ACCOUNTS: JSON.stringify([{ id: "gh_bench", appId: "wx_bench_proxy", appSecret: SECRET }]),
    }),
    createLogger({ level: "silent" }),
  );
  try {
    const token = (
      (await (await fetch(`${broker.url}/cgi-bin/token?grant_type=client_credential&appid=wx_bench_proxy&secret=${SECRET}`)).json()) as {
        access_token: string;
      }
    ).access_token;
    const q = (i: number) => `/cgi-bin/user/info?access_token=${encodeURIComponent(token)}&openid=o${i}`;
    await timeCalls((i) => `${broker.url}${q(i)}`); // warm-up
    const direct = await timeCalls((i) => `${sim.url}${q(i)}`);
    const proxied = await timeCalls((i) => `${broker.url}${q(i)}`);

    const file = randomBytes(MB << 20);
    const boundary = "benchBoundary0123456789";
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="media"; filename="b.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const t0 = performance.now();
    const up = JSON.parse(
      (
        await send(
          `${broker.url}/cgi-bin/media/upload?access_token=${encodeURIComponent(token)}&type=video`,
          "POST",
          { "Content-Type": `multipart/form-data; boundary=${boundary}`, "Content-Length": body.length },
          body,
        )
      ).toString("utf8"),
    ) as { media_id: string };
    const upMs = performance.now() - t0;
    const t1 = performance.now();
    const down = await send(`${broker.url}/cgi-bin/media/get?access_token=${encodeURIComponent(token)}&media_id=${up.media_id}`, "GET", {});
    const downMs = performance.now() - t1;
    clearInterval(sampler);
    if (!down.equals(file)) throw new Error("the media did not come back whole");

    const row = (name: string, t: number[]) => `| ${name} | ${CALLS} | ${pct(t, 50).toFixed(2)} | ${pct(t, 99).toFixed(2)} |`;
    console.log(`# Proxy benchmark\n\n${new Date().toISOString()} · node ${process.version}\n`);
    console.log("| JSON API call (GET user/info), sequential | calls | p50 ms | p99 ms |\n|---|---|---|---|");
    console.log(row("straight to the simulator", direct));
    console.log(row("through the broker's proxy", proxied));
    console.log(`\n| media through the proxy | MB | ms | MB/s |\n|---|---|---|---|`);
    console.log(
      `| upload (${MB} MB, not kept: above PROXY_BODY_KEEP_BYTES) | ${MB} | ${upMs.toFixed(0)} | ${(MB / (upMs / 1000)).toFixed(0)} |`,
    );
    console.log(`| download | ${MB} | ${downMs.toFixed(0)} | ${(MB / (downMs / 1000)).toFixed(0)} |`);
    console.log(
      `\nProcess RSS rose by at most ${((peak - rssBefore) / 2 ** 20).toFixed(0)} MB during the transfers. The simulator in this same process keeps the ${MB} MB upload in memory (and the test's own copies count too), so this bounds the proxy's share from above.`,
    );
  } finally {
    await broker.close();
    await sim.close();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
