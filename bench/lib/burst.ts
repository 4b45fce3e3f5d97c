// A burst client for the storm benchmarks: many keep-alive connections opened and warmed beforehand, then one request
// written on each of them in a single pass, so the requests reach the brokers "at once" rather than trickling in
// behind connection set-up. Raw sockets keep the client's own cost per request small (a few µs), which matters when
// 2,000 answers arrive within a few tens of milliseconds on a 2-core machine. It understands exactly what the
// broker sends: HTTP/1.1 answers with a Content-Length.
import { connect, type Socket } from "node:net";

export interface BurstResponse {
  status: number;
  body: string;
  /** performance.now() when the whole answer had arrived. */
  at: number;
  error?: string;
}

export class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((r: BurstResponse) => void) | null = null;

  constructor(
    readonly socket: Socket,
    readonly port: number,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.parse();
    });
    const fail = (why: string) => this.finish({ status: 0, body: "", at: performance.now(), error: why });
    socket.on("error", (err) => fail(err.message));
    socket.on("close", () => fail("connection closed"));
  }

  send(request: Buffer): Promise<BurstResponse> {
    if (this.waiting) throw new Error("one request at a time per connection");
    return new Promise((resolve) => {
      this.waiting = resolve;
      if (this.socket.destroyed) this.finish({ status: 0, body: "", at: performance.now(), error: "connection closed" });
      else this.socket.write(request);
    });
  }

  private finish(r: BurstResponse): void {
    const w = this.waiting;
    this.waiting = null;
    this.buf = Buffer.alloc(0);
    w?.(r);
  }

  private parse(): void {
    const end = this.buf.indexOf("\r\n\r\n");
    if (end === -1) return;
    const head = this.buf.subarray(0, end).toString("latin1");
    const status = Number(head.slice(9, 12));
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) {
      this.finish({ status, body: "", at: performance.now(), error: "answer without Content-Length" });
      return;
    }
    const total = end + 4 + Number(m[1]);
    if (this.buf.length < total) return;
    const body = this.buf.subarray(end + 4, total).toString("utf8");
    this.finish({ status, body, at: performance.now() });
  }

  close(): void {
    this.socket.destroy();
  }
}

export class BurstClient {
  private constructor(readonly conns: Conn[]) {}

  /** Opens `total` connections spread over the ports (127.0.0.1): conns[i] goes to ports[i % ports.length]. */
  static async open(ports: number[], total: number): Promise<BurstClient> {
    const pending: Array<Promise<Conn>> = [];
    for (let i = 0; i < total; i++) {
      const port = ports[i % ports.length]!;
      pending.push(
        new Promise((resolve, reject) => {
          const s = connect({ host: "127.0.0.1", port }, () => {
            s.off("error", reject);
            resolve(new Conn(s, port));
          });
          s.once("error", reject);
        }),
      );
    }
    return new BurstClient(await Promise.all(pending));
  }

  /**
   * Writes one request per connection (requests[i] on conns[i], built beforehand) in a single synchronous pass,
   * then waits for every answer. Returns the start time and the answers in connection order.
   */
  async fire(requests: Buffer[]): Promise<{ t0: number; responses: BurstResponse[] }> {
    if (requests.length !== this.conns.length) throw new Error("one request per connection");
    const t0 = performance.now();
    const pending = this.conns.map((c, i) => c.send(requests[i]!));
    return { t0, responses: await Promise.all(pending) };
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}

/** Bytes of an HTTP/1.1 request on a keep-alive connection. */
export function rawRequest(o: {
  method: "GET" | "POST";
  port: number;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}): Buffer {
  const body = o.body === undefined ? undefined : Buffer.from(o.body, "utf8");
  const lines = [`${o.method} ${o.path} HTTP/1.1`, `Host: 127.0.0.1:${o.port}`, "Connection: keep-alive"];
  for (const [k, v] of Object.entries(o.headers ?? {})) lines.push(`${k}: ${v}`);
  if (body) lines.push("Content-Type: application/json", `Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  return body ? Buffer.concat([head, body]) : head;
}
