// WeChat-compatible token endpoints (issue 13): a service whose SDK fetches its own token gets the broker's instead,
// with nothing changed but the SDK's API host. Same paths, parameters and answers as WeChat:
//   GET  /cgi-bin/token?grant_type=client_credential&appid=…&secret=…      (Official Accounts, Mini Programs)
//   POST /cgi-bin/stable_token {grant_type, appid, secret, force_refresh}
//   GET  /wecom/cgi-bin/gettoken?corpid=…&corpsecret=…                       (WeCom)
// The caller proves itself with the account's real secret (compared in constant time) or an API key given in its
// place, scoped like every API key. force_refresh is a report of the caller's token, never a direct force refresh.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { Router, type Request, type Response } from "express";
import type { Account } from "../../accounts";
import type { IssuedTokens } from "../../broker/issuedTokens";
import type { TokenService, TokenView } from "../../broker/tokenService";
import type { Authenticator } from "../auth";
import { logFor } from "../requestLog";
import { errorAsWeChat, reportToken, wechatError, writeWeChatJson, type Platform, type WeChatError } from "../wechatShape";

export const COMPAT_TOKEN_ROUTE = "/cgi-bin/token";
export const COMPAT_STABLE_ROUTE = "/cgi-bin/stable_token";
export const COMPAT_WECOM_ROUTE = "/wecom/cgi-bin/gettoken";

/** stable_token bodies are a few dozen bytes; anything much larger is not one. */
const MAX_BODY_BYTES = 16 * 1024;

export interface CompatDeps {
  service: TokenService;
  auth: Authenticator;
  issued: IssuedTokens;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/** The raw body, up to MAX_BODY_BYTES; null when larger or broken. */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (v: string | null) => {
      if (done) return;
      done = true;
      if (v === null) req.resume();
      resolve(v);
    };
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) finish(null);
      else chunks.push(c);
    });
    req.on("end", () => finish(Buffer.concat(chunks).toString("utf8")));
    req.on("error", () => finish(null));
  });
}

function one(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

export function compatRoutes(d: CompatDeps): Router {
  const r = Router();
  const byAppId = new Map<string, Account>();
  const byCorpId = new Map<string, Account>();
  for (const id of d.service.accountIds()) {
    const a = d.service.account(id);
    const map = a.type === "wecom" ? byCorpId : byAppId;
    if (!map.has(a.appId)) map.set(a.appId, a);
  }

  /** Who the caller is, when `secret` is the account's secret or an API key allowed for it; else undefined. */
  function caller(account: Account, secret: string): string | undefined {
    // Both compared every time, so timing does not tell which one matched.
    const isSecret = timingSafeEqual(digest(secret), digest(account.appSecret));
    const key = d.auth.required ? d.auth.principalFor(secret, account.id, !isSecret) : undefined;
    if (isSecret) return `secret:${account.id}`;
    return key;
  }

  async function answer(res: Response, platform: Platform, view: TokenView): Promise<void> {
    await d.issued.remember(view.accountId, view.accessToken, view.expiresAt).catch((err: unknown) =>
      logFor(res.req).warn({ accountId: view.accountId, err: { message: err instanceof Error ? err.message : String(err) } }, "could not index the token for the proxy"),
    );
    const body = { access_token: view.accessToken, expires_in: view.expiresIn };
    writeWeChatJson(res, platform === "wecom" ? { errcode: 0, errmsg: "ok", ...body } : body);
  }

  function refuse(res: Response, e: WeChatError): void {
    writeWeChatJson(res, e);
  }

  async function serve(req: Request, res: Response, platform: Platform, account: Account, who: string, forceRefresh: boolean): Promise<void> {
    try {
      let view = await d.service.getToken(account.id);
      if (forceRefresh) {
        // A report that the token it had failed: compare-and-refresh of the token the broker hands out now.
        logFor(req).info({ accountId: account.id, caller: who }, "compatible endpoint: force_refresh taken as a report of the current token");
        view = await reportToken(d.service, account.id, view.accessToken, { caller: who, via: "report" });
      }
      await answer(res, platform, view);
    } catch (err) {
      const e = errorAsWeChat(platform, err);
      logFor(req).warn({ accountId: account.id, errcode: e.errcode }, "compatible endpoint could not serve a token");
      refuse(res, e);
    }
  }

  r.all(COMPAT_TOKEN_ROUTE, async (req, res) => {
    if (req.method !== "GET") return refuse(res, wechatError("wechat", 43001));
    const appid = one(req.query.appid);
    const secret = one(req.query.secret);
    if (appid === undefined) return refuse(res, wechatError("wechat", 41002));
    if (secret === undefined) return refuse(res, wechatError("wechat", 41004));
    if (req.query.grant_type !== "client_credential") return refuse(res, wechatError("wechat", 40002));
    const account = byAppId.get(appid);
    if (account === undefined) return refuse(res, wechatError("wechat", 40013, "no account with this AppID is configured in the broker"));
    const who = caller(account, secret);
    if (who === undefined) return refuse(res, wechatError("wechat", 40125, "give the account's AppSecret, or an API key allowed for this account, as secret"));
    await serve(req, res, "wechat", account, who, false);
  });

  r.all(COMPAT_STABLE_ROUTE, async (req, res) => {
    if (req.method !== "POST") return refuse(res, wechatError("wechat", 43002));
    const raw = await readBody(req);
    if (raw === null) return refuse(res, wechatError("wechat", 47001, "the body must be a small JSON object"));
    let body: Record<string, unknown> | undefined;
    try {
      const v: unknown = raw === "" ? undefined : JSON.parse(raw);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) body = v as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    // As WeChat: a body that is not a JSON object reads as "appid missing".
    const appid = one(body?.appid);
    const secret = one(body?.secret);
    if (body === undefined || appid === undefined) return refuse(res, wechatError("wechat", 41002));
    if (secret === undefined) return refuse(res, wechatError("wechat", 41004));
    if (body.grant_type !== "client_credential") return refuse(res, wechatError("wechat", 40002));
    if (body.force_refresh !== undefined && typeof body.force_refresh !== "boolean") return refuse(res, wechatError("wechat", 47001, "force_refresh must be true or false"));
    const account = byAppId.get(appid);
    if (account === undefined) return refuse(res, wechatError("wechat", 40013, "no account with this AppID is configured in the broker"));
    const who = caller(account, secret);
    if (who === undefined) return refuse(res, wechatError("wechat", 40125, "give the account's AppSecret, or an API key allowed for this account, as secret"));
    await serve(req, res, "wechat", account, who, body.force_refresh === true);
  });

  r.all(COMPAT_WECOM_ROUTE, async (req, res) => {
    if (req.method !== "GET") return refuse(res, wechatError("wecom", 43001));
    const corpid = one(req.query.corpid);
    const secret = one(req.query.corpsecret);
    if (corpid === undefined) return refuse(res, wechatError("wecom", 41002));
    if (secret === undefined) return refuse(res, wechatError("wecom", 41004));
    const account = byCorpId.get(corpid);
    if (account === undefined) return refuse(res, wechatError("wecom", 40013, "no WeCom account with this corpid is configured in the broker"));
    const who = caller(account, secret);
    // WeCom answers a wrong corpsecret with 40001.
    if (who === undefined) return refuse(res, wechatError("wecom", 40001, "give the account's corpsecret, or an API key allowed for this account, as corpsecret"));
    await serve(req, res, "wecom", account, who, false);
  });

  return r;
}
