// The open-loop generator (bench/tools/openloop.c) against a node:http server in this process: it offers the rate
// it is given, counts what it is answered, and — what it exists for — charges a server's stall to every request due
// during the stall, not only to the few in flight when it began.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { openLoop, realtimeAllowed } from "../../bench/lib/openLoop";

const ccAvailable = spawnSync("cc", ["--version"], { stdio: "ignore" }).error === undefined;
const skip = !ccAvailable && "no C compiler (scripts/ensure-test-tools.sh installs build-essential)";

async function withServer(handler: (path: string) => number, body: (port: number, dir: string) => Promise<void>): Promise<void> {
  const server: Server = createServer((req, res) => {
    res.writeHead(handler(req.url ?? ""), { "Content-Type": "text/plain", "Content-Length": "2" });
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = mkdtempSync(join(tmpdir(), "wtb-openloop-"));
  try {
    await body((server.address() as AddressInfo).port, dir);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const monotonicSeconds = () => Number(process.hrtime.bigint()) / 1e9;

/** Blocks this process's event loop, so the server answers nothing for `ms`. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** Uses `ms` of this process's CPU time (not wall time: on a busy machine a wall-clock wait burns less). */
function burn(ms: number): void {
  const from = process.cpuUsage();
  for (let used = process.cpuUsage(from); used.user + used.system < ms * 1000; used = process.cpuUsage(from));
}

test("the open-loop generator offers the rate it is given and counts every answer", { skip }, async () => {
  await withServer(
    () => 200,
    async (port, dir) => {
      const r = await openLoop({ port, path: "/ok", rate: 500, seconds: 1, connections: 4, warmupSeconds: 0.2, dir });
      // 500 due in the measured second (one more when the last falls on its edge); nothing lost.
      assert.ok(r.requests >= 499 && r.requests <= 501, `answered ${r.requests} for 500 due`);
      assert.equal(r.errors + r.non2xx, 0);
      assert.ok(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.max, `percentiles in order: ${JSON.stringify(r)}`);
      assert.ok(r.bytesPerResponse > 2, "bytes per answer count the head and the body");
      assert.deepEqual(r.stalls, [], "no stalls are looked for without stallMs");
    },
  );
});

test("the server's CPU share and CPU per request are its CPU time over the generator's run", { skip }, async () => {
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  await withServer(
    () => {
      burn(1); // 1 ms of CPU per request: 200 requests/s keep this process's CPU about a fifth busy.
      return 200;
    },
    async (port, dir) => {
      const r = await openLoop({ port, path: "/busy", rate: 200, seconds: 1, connections: 4, warmupSeconds: 0.2, dir, cpuMs });
      assert.ok(r.cpuUs >= 700 && r.cpuUs < 3000, `about 1 ms of CPU per request, warm-up included: ${r.cpuUs} µs`);
      assert.ok(r.cpuShare >= 0.14 && r.cpuShare < 0.6, `about a fifth of the run's wall time: ${r.cpuShare}`);
    },
  );
  await withServer(
    () => 200,
    async (port, dir) => {
      const r = await openLoop({ port, path: "/ok", rate: 200, seconds: 0.5, connections: 2, dir });
      assert.ok(Number.isNaN(r.cpuShare) && Number.isNaN(r.cpuUs), "without cpuMs there is no CPU figure");
    },
  );
});

test("a server's stall counts for every request due during it, not only the ones in flight", { skip }, async () => {
  let stalled = false;
  await withServer(
    () => {
      if (!stalled) {
        stalled = true;
        // The first request of the measured window (after 0.3 s of warm-up) freezes the server for 400 ms.
        setTimeout(() => stall(400), 500);
      }
      return 200;
    },
    async (port, dir) => {
      const from = monotonicSeconds();
      const r = await openLoop({ port, path: "/", rate: 1000, seconds: 1.5, connections: 4, warmupSeconds: 0.3, dir, stallMs: 50 });
      const to = monotonicSeconds();
      assert.equal(r.errors + r.non2xx, 0);
      // ~400 of the 1,500 measured requests fall due during the stall and wait up to 400 ms: more than a tenth of
      // them, so p90 is well above a healthy answer's time. A closed loop with 4 connections would record 4 slow
      // answers (p90 and even p99 untouched).
      assert.ok(r.p90 >= 50, `p90 ${r.p90} ms after a 400 ms stall at 1,000 requests/s`);
      assert.ok(r.max >= 300 && r.max < 1000, `max ${r.max} ms for a 400 ms stall`);
      assert.ok(r.requests >= 1499 && r.requests <= 1501, `answered ${r.requests} for 1,500 due`);
      // The server's stall is not taken for the generator's: only the generator's own paused time is taken off.
      assert.ok(r.lessPausesP99 >= 300, `the stall stays in the p99 less the generator's pauses (${r.lessPausesP99} ms)`);
      // The stall is reported as one run of slow answers, stamped with the clock perf's `-k mono` uses (libuv's
      // hrtime reads the same CLOCK_MONOTONIC).
      const big = r.stalls.filter((st) => st.worst >= 300);
      assert.equal(big.length, 1, `one stall of 400 ms: ${JSON.stringify(r.stalls)}`);
      assert.ok(big[0]!.requests >= 300, `${big[0]!.requests} requests in the stall`);
      assert.ok(big[0]!.due > from && big[0]!.due < to, `stall due at ${big[0]!.due}, run from ${from} to ${to}`);
    },
  );
});

test("answers outside 2xx are counted apart", { skip }, async () => {
  let n = 0;
  await withServer(
    () => (++n % 4 === 0 ? 503 : 200),
    async (port, dir) => {
      const r = await openLoop({ port, path: "/", rate: 400, seconds: 1, connections: 2, dir });
      assert.ok(Math.abs(r.non2xx - r.requests / 4) <= 2, `${r.non2xx} of ${r.requests} answered 503, every fourth was`);
    },
  );
});

test("a pause of the generator itself is reported, and the answers it touched are counted apart", { skip }, async () => {
  await withServer(
    () => 200,
    async (port, dir) => {
      // 0.5 s into the measured window, the generator loses the CPU for 200 ms: it sends nothing and stamps nothing.
      const pause = (generator: ChildProcess) => {
        setTimeout(() => generator.kill("SIGSTOP"), 800);
        setTimeout(() => generator.kill("SIGCONT"), 1_000);
      };
      const r = await openLoop({ port, path: "/", rate: 1000, seconds: 1.5, connections: 4, warmupSeconds: 0.3, dir, started: pause });
      const seen = JSON.stringify({ ...r, stalls: undefined });
      assert.ok(r.pauses >= 1 && r.pausedMs >= 150, `the 200 ms pause was seen: ${seen}`);
      // ~200 requests fell due during it, and the answers in flight when it began were stamped after it.
      assert.ok(r.touched >= 150 && r.touched < r.requests / 2, `${r.touched} answers touched by the pause: ${seen}`);
      assert.ok(r.p99 >= 100, `the pause is in the p99 of all answers (${r.p99} ms)`);
      assert.ok(r.lessPausesP99 < r.p99 / 2, `less the pause, the healthy server's p99 is ${r.lessPausesP99} ms`);
    },
  );
});

test("asked to, the generator runs under the real-time scheduler, so ordinary work on its CPU cannot pause it", async (t) => {
  if (skip) return t.skip(skip);
  if (!realtimeAllowed()) return t.skip("chrt may not set SCHED_FIFO here (needs root or CAP_SYS_NICE)");
  // sched_getscheduler of the generator's process: field 41 of /proc/<pid>/stat (1: SCHED_FIFO, 0: SCHED_OTHER).
  const policies: string[] = [];
  const watch = (generator: ChildProcess) => {
    const look = () => {
      try {
        if (readFileSync(`/proc/${generator.pid}/comm`, "utf8").trim() !== "openloop") return void setTimeout(look, 5);
        policies.push(readFileSync(`/proc/${generator.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[38]!);
      } catch {
        // gone already
      }
    };
    look();
  };
  await withServer(
    () => 200,
    async (port, dir) => {
      const r = await openLoop({ port, path: "/", rate: 200, seconds: 0.5, connections: 2, dir, realtime: true, started: watch });
      assert.equal(r.errors + r.non2xx, 0);
      const plain = await openLoop({ port, path: "/", rate: 200, seconds: 0.5, connections: 2, dir, started: watch });
      assert.equal(plain.errors + plain.non2xx, 0);
    },
  );
  assert.deepEqual(policies, ["1", "0"], "SCHED_FIFO when asked, the ordinary scheduler otherwise");
});
