// A few of WeChat's business APIs, so the broker's token-injecting proxy and real SDKs have something to call
// (issue 13): a JSON API (user info, menus, messages), and media upload/download of several MB. Each checks the
// access_token like WeChat does (41001 missing, 40014 unknown, 40001 superseded, 42001 expired; a token of the
// other platform is unknown), and a token can be told to be rejected once (tokens/reject in the admin API) to
// imitate a token another system has just killed.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { makeRid, mpError, wecomError } from "./errmsgs";
import type { SimulatorState } from "./state";
import type { SimPlatform } from "./types";

/** Uploads beyond this are refused (WeChat's largest temporary media is 10 MB; the proxy tests go above that). */
const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** Media kept for download; the oldest go first. */
const MAX_MEDIA = 32;

export interface SimApiCalls {
  /** Business calls by path (WeCom ones with their /wecom prefix), whatever the answer. */
  calls: Record<string, number>;
  /** Calls answered with a rejection queued by tokens/reject. */
  rejected: number;
  /** Bytes of media uploads received so far, counted as they arrive (tests see a stream progress). */
  uploadBytes: number;
}

interface Media {
  appId: string;
  contentType: string;
  filename: string;
  data: Buffer;
}

type Handler = (ctx: {
  appId: string;
  platform: SimPlatform;
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
}) => Promise<void>;

const MP_JSON = "application/json; encoding=utf-8";
const WECOM_JSON = "application/json; charset=UTF-8";

function send(res: ServerResponse, platform: SimPlatform, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(200, { "Content-Type": platform === "wecom" ? WECOM_JSON : MP_JSON, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function readAll(req: IncomingMessage, limit: number, onChunk?: (n: number) => void): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (b: Buffer | null) => {
      if (!done) {
        done = true;
        resolve(b);
      }
    };
    req.on("data", (c: Buffer) => {
      size += c.length;
      onChunk?.(c.length);
      if (size > limit) finish(null);
      else chunks.push(c);
    });
    req.on("end", () => finish(Buffer.concat(chunks)));
    req.on("error", () => finish(null));
    req.on("close", () => finish(null));
  });
}

/** The first file part of a multipart/form-data body: its bytes, filename and type. */
function firstFilePart(body: Buffer, contentType: string): { data: Buffer; filename: string; type: string } | null {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) return null;
  const delimiter = Buffer.from(`--${boundary}`);
  const start = body.indexOf(delimiter);
  if (start === -1) return null;
  const headersEnd = body.indexOf("\r\n\r\n", start);
  if (headersEnd === -1) return null;
  const headers = body.subarray(start, headersEnd).toString("utf8");
  const end = body.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd + 4);
  if (end === -1) return null;
  return {
    data: body.subarray(headersEnd + 4, end),
    filename: /filename="([^"]*)"/i.exec(headers)?.[1] ?? "media",
    type: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1]?.trim() ?? "application/octet-stream",
  };
}

export class SimBusinessApi {
  private readonly rejects = new Map<string, { errcode: number; remaining: number }>();
  private readonly media = new Map<string, Media>();
  private readonly menus = new Map<string, unknown>();
  private readonly stats = new Map<string, SimApiCalls>();
  private readonly handlers: Record<string, Handler>;

  constructor(
    private readonly state: SimulatorState,
    private readonly now: () => number,
  ) {
    const json =
      (body: (q: URLSearchParams, appId: string) => Record<string, unknown>): Handler =>
      async ({ res, platform, query, appId }) =>
        send(res, platform, platform === "wecom" ? { errcode: 0, errmsg: "ok", ...body(query, appId) } : body(query, appId));
    const ok: Handler = async ({ req, res, platform }) => {
      await readAll(req, 1024 * 1024);
      send(res, platform, { errcode: 0, errmsg: "ok" });
    };
    this.handlers = {
      "GET /cgi-bin/user/info": json((q) => ({
        subscribe: 1,
        openid: q.get("openid") ?? "",
        nickname: "sim-user",
        language: q.get("lang") ?? "zh_CN",
      })),
      "POST /cgi-bin/menu/create": async ({ req, res, platform, appId }) => {
        const body = await readAll(req, 1024 * 1024);
        try {
          this.menus.set(appId, JSON.parse(body?.toString("utf8") ?? ""));
        } catch {
          return send(res, platform, mpError(47001, this.now(), this.state.callerIpOf(appId)));
        }
        send(res, platform, { errcode: 0, errmsg: "ok" });
      },
      "GET /cgi-bin/menu/get": async ({ res, platform, appId }) => send(res, platform, { menu: this.menus.get(appId) ?? { button: [] } }),
      "POST /cgi-bin/message/custom/send": ok,
      "POST /cgi-bin/media/upload": (ctx) => this.upload(ctx),
      "GET /cgi-bin/media/get": (ctx) => this.download(ctx),
      "GET /wecom/cgi-bin/user/get": json((q) => ({ userid: q.get("userid") ?? "", name: "sim-user", department: [1] })),
      "POST /wecom/cgi-bin/message/send": async ({ req, res, platform }) => {
        await readAll(req, 1024 * 1024);
        send(res, platform, { errcode: 0, errmsg: "ok", invaliduser: "" });
      },
      "POST /wecom/cgi-bin/media/upload": (ctx) => this.upload(ctx),
      "GET /wecom/cgi-bin/media/get": (ctx) => this.download(ctx),
    };
  }

  /** The next `times` business calls made with this token are answered `errcode` (default 40001). */
  rejectToken(accessToken: string, errcode = 40001, times = 1): void {
    this.rejects.set(accessToken, { errcode, remaining: times });
  }

  apiCalls(appId: string): SimApiCalls {
    const s = this.stats.get(appId);
    return s ? { calls: { ...s.calls }, rejected: s.rejected, uploadBytes: s.uploadBytes } : { calls: {}, rejected: 0, uploadBytes: 0 };
  }

  resetCounters(): void {
    this.stats.clear();
  }

  /** Answers the call when `path` is one of the business APIs; false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<boolean> {
    const method = req.method ?? "GET";
    const handler = this.handlers[`${method} ${path}`];
    if (handler === undefined) return false;
    const platform: SimPlatform = path.startsWith("/wecom/") ? "wecom" : "wechat";
    const token = query.get("access_token") ?? "";
    const info = token === "" ? undefined : this.state.tokenInfo(token);
    const ip = this.state.callerIpOf(info?.appId ?? "");
    const fail = (code: number) =>
      send(res, platform, platform === "wecom" ? wecomError(code, this.now(), ip) : mpError(code, this.now(), ip));
    if (token === "") return (fail(41001), true);
    if (info === undefined || info.platform !== platform) return (fail(40014), true);
    const stats = this.stats.get(info.appId) ?? { calls: {}, rejected: 0, uploadBytes: 0 };
    this.stats.set(info.appId, stats);
    stats.calls[path] = (stats.calls[path] ?? 0) + 1;
    const reject = this.rejects.get(token);
    if (reject !== undefined) {
      if (--reject.remaining <= 0) this.rejects.delete(token);
      stats.rejected++;
      req.resume();
      return (fail(reject.errcode), true);
    }
    if (!info.valid) return (fail(info.reason === "expired" ? 42001 : platform === "wecom" ? 40014 : 40001), true);
    await handler({ appId: info.appId, platform, req, res, query });
    return true;
  }

  private async upload({ appId, platform, req, res, query }: Parameters<Handler>[0]): Promise<void> {
    const stats = this.stats.get(appId);
    const body = await readAll(req, MAX_UPLOAD_BYTES, (n) => {
      if (stats) stats.uploadBytes += n;
    });
    const ip = this.state.callerIpOf(appId);
    if (body === null) return send(res, platform, { errcode: 40005, errmsg: `invalid file size rid: ${makeRid(this.now())}` });
    const part = firstFilePart(body, req.headers["content-type"] ?? "");
    if (part === null) {
      return send(
        res,
        platform,
        platform === "wecom" ? wecomError(44001, this.now(), ip) : mpError(44001, this.now(), ip, "empty media data"),
      );
    }
    const mediaId = randomBytes(24).toString("base64url");
    this.media.set(mediaId, { appId, contentType: part.type, filename: part.filename, data: Buffer.from(part.data) });
    if (this.media.size > MAX_MEDIA) this.media.delete(this.media.keys().next().value!);
    const type = query.get("type") ?? "file";
    const created_at = Math.floor(this.now() / 1000);
    send(
      res,
      platform,
      platform === "wecom"
        ? { errcode: 0, errmsg: "ok", type, media_id: mediaId, created_at: String(created_at) }
        : { type, media_id: mediaId, created_at },
    );
  }

  private async download({ appId, platform, res, query }: Parameters<Handler>[0]): Promise<void> {
    const m = this.media.get(query.get("media_id") ?? "");
    if (m === undefined || m.appId !== appId) {
      const ip = this.state.callerIpOf(appId);
      return send(
        res,
        platform,
        platform === "wecom" ? wecomError(40007, this.now(), ip) : mpError(40007, this.now(), ip, "invalid media_id"),
      );
    }
    res.writeHead(200, {
      "Content-Type": m.contentType,
      "Content-Length": m.data.length,
      "Content-Disposition": `attachment; filename="${m.filename.replace(/["\r\n]/g, "")}"`,
    });
    // Written in pieces, as a large file arrives over a real connection.
    const piece = 256 * 1024;
    let offset = 0;
    const pump = () => {
      while (offset < m.data.length) {
        const chunk = m.data.subarray(offset, offset + piece);
        offset += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  }
}
