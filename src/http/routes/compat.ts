// WeChat-compatible token endpoints (issue 13): a service whose SDK fetches its own token gets the broker's instead,
// with nothing changed but the SDK's API host. Same paths, parameters and answers as WeChat:
//   GET  /cgi-bin/token?grant_type=client_credential&appid=…&secret=…      (Official Accounts, Mini Programs)
//   POST /cgi-bin/stable_token {grant_type, appid, secret, force_refresh}
//   GET  /wecom/cgi-bin/gettoken?corpid=…&corpsecret=…                       (WeCom)
// The caller proves itself with the account's real secret (compared in constant time) or an API key given in its
// place, scoped like every API key. force_refresh is a report of the caller's token, never a direct force refresh.
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Account } from "../../accounts";
import type { IssuedTokens } from "../../broker/issuedTokens";
import type { TokenService, TokenView } from "../../broker/tokenService";
import type { Authenticator } from "../auth";
import type { Call, Reply, RouteDef } from "../route";
import { errorAsWeChat, reportToken, wechatError, type Platform, type WeChatError } from "../wechatShape";

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

export function compatRoutes(d: CompatDeps): RouteDef[] {
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

  async function answer(call: Call, platform: Platform, view: TokenView): Promise<Reply> {
    await d.issued
      .remember(view.accountId, view.accessToken, view.expiresAt)
      .catch((err: unknown) =>
        call
          .log()
          .warn(
            { accountId: view.accountId, err: { message: err instanceof Error ? err.message : String(err) } },
            "could not index the token for the proxy",
          ),
      );
    const body = { access_token: view.accessToken, expires_in: view.expiresIn };
    return { json: platform === "wecom" ? { errcode: 0, errmsg: "ok", ...body } : body };
  }

  /** WeChat answers its refusals with HTTP 200 and an errcode; so do these endpoints. */
  const refuse = (e: WeChatError): Reply => ({ json: e });

  async function serve(call: Call, platform: Platform, account: Account, who: string, forceRefresh: boolean): Promise<Reply> {
    try {
      let view = await d.service.getToken(account.id);
      if (forceRefresh) {
        // A report that the token it had failed: compare-and-refresh of the token the broker hands out now.
        call
          .log()
          .info({ accountId: account.id, caller: who }, "compatible endpoint: force_refresh taken as a report of the current token");
        view = await reportToken(d.service, account.id, view.accessToken, { caller: who, via: "report" });
      }
      return await answer(call, platform, view);
    } catch (err) {
      const e = errorAsWeChat(platform, err);
      call.log().warn({ accountId: account.id, errcode: e.errcode }, "compatible endpoint could not serve a token");
      return refuse(e);
    }
  }

  // The credentials are WeChat's (appid and secret in the query or body), checked by `caller` above, so these routes
  // are open to the pipeline and answer every method in WeChat's shape.
  const tokenGet = async (call: Call): Promise<Reply> => {
    const req = call.req;
    if (req.method !== "GET") return refuse(wechatError("wechat", 43001));
    const appid = one(req.query.appid);
    const secret = one(req.query.secret);
    if (appid === undefined) return refuse(wechatError("wechat", 41002));
    if (secret === undefined) return refuse(wechatError("wechat", 41004));
    if (req.query.grant_type !== "client_credential") return refuse(wechatError("wechat", 40002));
    const account = byAppId.get(appid);
    if (account === undefined) return refuse(wechatError("wechat", 40013, "no account with this AppID is configured in the broker"));
    const who = caller(account, secret);
    if (who === undefined)
      return refuse(wechatError("wechat", 40125, "give the account's AppSecret, or an API key allowed for this account, as secret"));
    return serve(call, "wechat", account, who, false);
  };

  const stableToken = async (call: Call): Promise<Reply> => {
    const req = call.req;
    if (req.method !== "POST") return refuse(wechatError("wechat", 43002));
    const raw = await readBody(req);
    if (raw === null) return refuse(wechatError("wechat", 47001, "the body must be a small JSON object"));
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
    if (body === undefined || appid === undefined) return refuse(wechatError("wechat", 41002));
    if (secret === undefined) return refuse(wechatError("wechat", 41004));
    if (body.grant_type !== "client_credential") return refuse(wechatError("wechat", 40002));
    if (body.force_refresh !== undefined && typeof body.force_refresh !== "boolean")
      return refuse(wechatError("wechat", 47001, "force_refresh must be true or false"));
    const account = byAppId.get(appid);
    if (account === undefined) return refuse(wechatError("wechat", 40013, "no account with this AppID is configured in the broker"));
    const who = caller(account, secret);
    if (who === undefined)
      return refuse(wechatError("wechat", 40125, "give the account's AppSecret, or an API key allowed for this account, as secret"));
    return serve(call, "wechat", account, who, body.force_refresh === true);
  };

  const wecomToken = async (call: Call): Promise<Reply> => {
    const req = call.req;
    if (req.method !== "GET") return refuse(wechatError("wecom", 43001));
    const corpid = one(req.query.corpid);
    const secret = one(req.query.corpsecret);
    if (corpid === undefined) return refuse(wechatError("wecom", 41002));
    if (secret === undefined) return refuse(wechatError("wecom", 41004));
    const account = byCorpId.get(corpid);
    if (account === undefined) return refuse(wechatError("wecom", 40013, "no WeCom account with this corpid is configured in the broker"));
    const who = caller(account, secret);
    // WeCom answers a wrong corpsecret with 40001.
    if (who === undefined)
      return refuse(wechatError("wecom", 40001, "give the account's corpsecret, or an API key allowed for this account, as corpsecret"));
    return serve(call, "wecom", account, who, false);
  };

  return [
    { method: "ALL", paths: [COMPAT_TOKEN_ROUTE], access: "open", handle: tokenGet },
    { method: "ALL", paths: [COMPAT_STABLE_ROUTE], access: "open", handle: stableToken },
    { method: "ALL", paths: [COMPAT_WECOM_ROUTE], access: "open", handle: wecomToken },
  ];
}
