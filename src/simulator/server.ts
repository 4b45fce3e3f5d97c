// HTTP face of the simulator: WeChat's token APIs at the root, WeCom's under /wecom, the admin API under /__admin.
// Plain node:http rather than express: faults need the raw socket (reset, hold), and nothing here needs middleware.
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { SimAdminError, parseAppConfig } from "./adminInput";
import type { SimAnswer } from "./calls";
import { makeRid } from "./errmsgs";
import { SimulatorState } from "./state";
import type { RunningSimulator, SimAppConfig, SimFault, SimulatorOptions } from "./types";
import { SimBusinessApi } from "./business";

/** Request bodies beyond this are refused; nothing legitimate comes close. */
const MAX_BODY_BYTES = 1024 * 1024;

// WeChat's observed Content-Type (docs/wechat-api.md §1.3); WeCom answers with a conventional one.
const MP_JSON = "application/json; encoding=utf-8";
const WECOM_JSON = "application/json; charset=UTF-8";
const ADMIN_JSON = "application/json; charset=utf-8";

type Body = { ok: true; raw: string } | { ok: false };

function readBody(req: IncomingMessage): Promise<Body> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (b: Body) => {
      if (done) return;
      done = true;
      resolve(b);
    };
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        finish({ ok: false });
        return;
      }
      if (!done) chunks.push(chunk);
    });
    req.on("end", () => finish({ ok: true, raw: Buffer.concat(chunks).toString("utf8") }));
    req.on("error", () => finish({ ok: false }));
    req.on("close", () => finish({ ok: false }));
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, contentType: string): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "Content-Type": "text/html", "Content-Length": Buffer.byteLength(html) });
  res.end(html);
}

function adminError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } }, ADMIN_JSON);
}

function opt(v: string | null): string | undefined {
  return v ?? undefined;
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const host = opts.host ?? "127.0.0.1";
  const now = opts.now ?? Date.now;
  const state = new SimulatorState(now);
  const business = new SimBusinessApi(state, now);
  const seen = new Set<string>();
  for (const [i, app] of (opts.apps ?? []).entries()) {
    const parsed = parseAppConfig(app, `apps[${i}]`);
    if (seen.has(parsed.appId)) throw new Error(`apps[${i}].appId: ${JSON.stringify(parsed.appId)} is configured twice`);
    seen.add(parsed.appId);
    state.setApp(parsed);
  }

  const sockets = new Set<Socket>();
  const pendingDelays = new Set<() => void>();
  let closing = false;

  /** Waits `ms`, or less if the simulator closes meanwhile; resolves to false if it closed. */
  function delay(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        pendingDelays.delete(wake);
        resolve(!closing);
      };
      const timer = setTimeout(wake, ms);
      pendingDelays.add(wake);
    });
  }

  async function deliver(req: IncomingMessage, res: ServerResponse, answer: SimAnswer): Promise<void> {
    if (answer.latencyMs > 0 && !(await delay(answer.latencyMs))) return;
    const reply = answer.reply;
    if (reply.kind === "json") {
      sendJson(res, 200, reply.body, answer.platform === "wecom" ? WECOM_JSON : MP_JSON);
      return;
    }
    renderFault(req, res, reply.fault);
  }

  function renderFault(req: IncomingMessage, res: ServerResponse, fault: SimFault): void {
    switch (fault.type) {
      case "http": {
        const status = fault.status ?? 502;
        const text = `${status} ${STATUS_CODES[status] ?? "Error"}`;
        sendHtml(
          res,
          status,
          `<html>\r\n<head><title>${text}</title></head>\r\n<body>\r\n<center><h1>${text}</h1></center>\r\n</body>\r\n</html>\r\n`,
        );
        return;
      }
      case "non_json":
        sendHtml(res, 200, "<html><head><title>WeChat</title></head><body><p>System busy, please try again later.</p></body></html>");
        return;
      case "reset":
        req.socket.destroy();
        return;
      case "timeout":
        // Hold: the socket stays open until the client gives up or close() destroys it.
        return;
      case "errcode":
        // Rendered as JSON by the state machine; never reaches here.
        return;
    }
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const method = req.method ?? "GET";
    let answer: SimAnswer | undefined;
    switch (path) {
      case "/cgi-bin/token":
        answer = state.token({
          method,
          appid: opt(query.get("appid")),
          secret: opt(query.get("secret")),
          grantType: opt(query.get("grant_type")),
        });
        break;
      case "/cgi-bin/stable_token": {
        const body = await readBody(req);
        const parsed = body.ok ? parseJson(body.raw) : { ok: false as const };
        answer = state.stableToken({ method, body: parsed.ok ? parsed.value : undefined });
        break;
      }
      case "/cgi-bin/get_api_domain_ip":
      case "/cgi-bin/getcallbackip":
        answer = state.probe({ platform: "wechat", method, accessToken: opt(query.get("access_token")) });
        break;
      case "/wecom/cgi-bin/gettoken":
        answer = state.wecomGettoken({ method, corpid: opt(query.get("corpid")), corpsecret: opt(query.get("corpsecret")) });
        break;
      case "/cgi-bin/ticket/getticket":
        answer = state.ticket(
          { platform: "wechat", method, accessToken: opt(query.get("access_token")), type: opt(query.get("type")) },
          "getticket",
        );
        break;
      case "/wecom/cgi-bin/get_jsapi_ticket":
        answer = state.ticket({ platform: "wecom", method, accessToken: opt(query.get("access_token")) }, "get_jsapi_ticket");
        break;
      case "/wecom/cgi-bin/ticket/get":
        answer = state.ticket(
          { platform: "wecom", method, accessToken: opt(query.get("access_token")), type: opt(query.get("type")) },
          "ticket/get",
        );
        break;
      case "/wecom/cgi-bin/get_api_domain_ip":
      case "/wecom/cgi-bin/getcallbackip":
        answer = state.probe({ platform: "wecom", method, accessToken: opt(query.get("access_token")) });
        break;
    }
    if (answer === undefined && (await business.handle(req, res, path, query))) return;
    if (answer === undefined) {
      sendJson(res, 404, { errcode: -1, errmsg: `no such api in the simulator: ${path} rid: ${makeRid(now())}` }, MP_JSON);
      return;
    }
    await deliver(req, res, answer);
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const method = req.method ?? "GET";
    let parts: string[];
    try {
      parts = path.split("/").slice(2).map(decodeURIComponent); // ["", "__admin", ...]
    } catch {
      adminError(res, 400, "bad_request", "malformed percent-encoding in the path");
      return;
    }
    const jsonBody = async (): Promise<{ ok: true; value: unknown } | { ok: false }> => {
      const body = await readBody(req);
      const parsed = body.ok ? parseJson(body.raw === "" ? "null" : body.raw) : { ok: false as const };
      if (!parsed.ok) adminError(res, 400, "bad_json", "the request body is not valid JSON");
      return parsed;
    };
    const notAllowed = () => adminError(res, 405, "method_not_allowed", `${method} is not supported on ${path}`);
    const ok = (body: unknown = { ok: true }) => sendJson(res, 200, body, ADMIN_JSON);

    const [a, b, c, d] = parts;
    if (a === "apps" && b === undefined) {
      if (method !== "GET") return notAllowed();
      return ok({ apps: state.listApps() });
    }
    if (a === "apps" && b !== undefined && c === undefined) {
      if (method === "DELETE") {
        const existed = state.hasApp(b);
        state.removeApp(b);
        return ok({ removed: existed });
      }
      if (method !== "PUT" && method !== "PATCH") return notAllowed();
      const body = await jsonBody();
      if (!body.ok) return;
      if (typeof body.value !== "object" || body.value === null || Array.isArray(body.value)) {
        return adminError(res, 400, "bad_request", "the body must be a JSON object");
      }
      const fields = body.value as Record<string, unknown>;
      if (fields.appId !== undefined && fields.appId !== b) {
        return adminError(res, 400, "bad_request", "appId in the body differs from the one in the path");
      }
      if (method === "PUT") state.setApp({ ...fields, appId: b } as SimAppConfig);
      else state.patchApp(b, fields as Partial<SimAppConfig>);
      return ok({ app: state.listApps().find((x) => x.appId === b) });
    }
    if (a === "apps" && b !== undefined && c === "faults" && d === undefined) {
      if (method === "DELETE") {
        state.clearFaults(b);
        return ok();
      }
      if (method !== "POST") return notAllowed();
      const body = await jsonBody();
      if (!body.ok) return;
      state.addFault(b, body.value as SimFault);
      return ok();
    }
    if (a === "apps" && b !== undefined && c === "counters" && d === undefined) {
      if (method !== "GET") return notAllowed();
      return ok(state.counters(b));
    }
    if (a === "apps" && b !== undefined && c === "api-calls" && d === undefined) {
      if (method !== "GET") return notAllowed();
      return ok(business.apiCalls(b));
    }
    if (a === "tokens" && b === "reject" && c === undefined) {
      if (method !== "POST") return notAllowed();
      const body = await jsonBody();
      if (!body.ok) return;
      const v = (body.value ?? {}) as { accessToken?: unknown; errcode?: unknown; times?: unknown };
      if (typeof v.accessToken !== "string" || v.accessToken === "")
        return adminError(res, 400, "bad_request", "accessToken: must be a string");
      if (v.errcode !== undefined && !Number.isInteger(v.errcode))
        return adminError(res, 400, "bad_request", "errcode: must be an integer");
      if (v.times !== undefined && !(Number.isInteger(v.times) && (v.times as number) >= 1)) {
        return adminError(res, 400, "bad_request", "times: must be an integer ≥ 1");
      }
      business.rejectToken(v.accessToken, (v.errcode as number | undefined) ?? 40001, (v.times as number | undefined) ?? 1);
      return ok();
    }
    if (a === "counters" && b === "reset" && c === undefined) {
      if (method !== "POST") return notAllowed();
      state.resetCounters();
      business.resetCounters();
      return ok();
    }
    if (a === "tokens" && b === "check" && c === undefined) {
      if (method !== "POST") return notAllowed();
      const body = await jsonBody();
      if (!body.ok) return;
      const token = (body.value as { accessToken?: unknown } | null)?.accessToken;
      if (typeof token !== "string") return adminError(res, 400, "bad_request", "accessToken: must be a string");
      return ok(state.checkToken(token));
    }
    if (a === "apps" && b !== undefined && c === "tickets" && d !== undefined && parts[4] === undefined) {
      if (method !== "GET") return notAllowed();
      if (d !== "jsapi" && d !== "wx_card" && d !== "agent_config")
        return adminError(res, 400, "bad_request", "ticket type: jsapi, wx_card or agent_config");
      if (!state.hasApp(b)) return adminError(res, 404, "not_found", `no app ${JSON.stringify(b)} in the simulator`);
      return ok({ ticket: state.currentTicket(b, d) ?? null });
    }
    if (a === "tickets" && b === "check" && c === undefined) {
      if (method !== "POST") return notAllowed();
      const body = await jsonBody();
      if (!body.ok) return;
      const ticket = (body.value as { ticket?: unknown } | null)?.ticket;
      if (typeof ticket !== "string") return adminError(res, 400, "bad_request", "ticket: must be a string");
      return ok(state.checkTicket(ticket));
    }
    adminError(res, 404, "not_found", `no admin endpoint ${method} ${path}`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Proxy-style absolute URLs (GET http://host/path) are served like origin-form ones.
    const url = (req.url ?? "/").replace(/^https?:\/\/[^/?]*/i, "") || "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const query = new URLSearchParams(q === -1 ? "" : url.slice(q + 1));
    try {
      if (path === "/__admin" || path.startsWith("/__admin/")) await handleAdmin(req, res, path);
      else await handleApi(req, res, path, query);
    } catch (err) {
      if (err instanceof SimAdminError) {
        adminError(res, err.code === "not_found" ? 404 : 400, err.code, err.message);
        return;
      }
      // A bug in the simulator must not take it down: answer like WeChat's "system error".
      if (!res.headersSent) sendJson(res, 500, { errcode: -1, errmsg: `system error rid: ${makeRid(now())}` }, MP_JSON);
      else res.destroy();
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_err, socket) => {
    // Malformed HTTP: answer 400 if we still can, never crash.
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = host.includes(":") ? `[${host}]` : host;
  const url = `http://${hostForUrl}:${port}`;

  let closed: Promise<void> | undefined;
  function close(): Promise<void> {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      for (const wake of [...pendingDelays]) wake();
      server.close(() => resolve());
      // Held (timeout-fault) and keep-alive sockets would keep close() waiting forever.
      for (const s of sockets) s.destroy();
    });
    return closed;
  }

  const admin = Object.assign(state, {
    rejectToken: (accessToken: string, errcode?: number, times?: number) => business.rejectToken(accessToken, errcode, times),
    apiCalls: (appId: string) => business.apiCalls(appId),
  });
  const resetState = state.resetCounters.bind(state);
  admin.resetCounters = () => {
    resetState();
    business.resetCounters();
  };
  return { url, wecomUrl: `${url}/wecom`, port, admin, close };
}
