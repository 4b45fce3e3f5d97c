// Open-loop load at a fixed rate, evenly spaced (autocannon's rate limit sends each connection's per-second budget
// as fast as it can at the top of every second, which measures bursts). Latency runs from the moment a request was
// written, or from the moment it was due when it had to wait for a free connection (every connection still waiting
// for an answer is the server's slowness: no coordinated omission). The generator's own timer lateness (~1 ms ticks)
// is not counted.
import { createHistogram } from "node:perf_hooks";
import { BurstClient, rawRequest } from "./burst";
import type { LoadResult } from "./load";

export async function paced(o: {
  port: number;
  path: string;
  headers: Record<string, string>;
  rate: number;
  seconds: number;
  connections: number;
}): Promise<LoadResult> {
  const client = await BurstClient.open([o.port], o.connections);
  const request = rawRequest({ method: "GET", port: o.port, path: o.path, headers: o.headers });
  const hist = createHistogram();
  const idle = [...client.conns];
  const backlog: number[] = [];
  let answered = 0;
  let errors = 0;
  let non2xx = 0;
  let bytes = 0;
  const pending: Array<Promise<void>> = [];

  const send = (conn: (typeof idle)[number], since: number) => {
    pending.push(
      conn.send(request).then((r) => {
        answered++;
        if (r.error !== undefined) errors++;
        else if (r.status < 200 || r.status > 299) non2xx++;
        bytes += r.body.length;
        hist.record(Math.max(1, Math.round((r.at - since) * 1000)));
        const next = backlog.shift();
        if (next !== undefined) send(conn, next);
        else idle.push(conn);
      }),
    );
  };

  try {
    const start = performance.now();
    const end = start + o.seconds * 1000;
    let issued = 0;
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) / 1000) * o.rate);
      for (; issued < due; issued++) {
        // First in, first out: every connection is used in turn, so none sits idle past the server's keep-alive
        // timeout (5 s) and gets closed under us.
        const conn = idle.shift();
        if (conn) send(conn, performance.now());
        else backlog.push(start + (issued / o.rate) * 1000);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
    const seconds = (performance.now() - start) / 1000;
    return {
      connections: o.connections,
      seconds,
      requests: answered,
      rps: answered / seconds,
      p50: hist.percentile(50) / 1000,
      p99: hist.percentile(99) / 1000,
      max: hist.max / 1000,
      mean: hist.mean / 1000,
      errors,
      non2xx,
      bytesPerResponse: answered > 0 ? bytes / answered : 0,
      cpuUs: NaN,
    };
  } finally {
    client.close();
  }
}
