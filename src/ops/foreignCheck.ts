// The diagnosis line for foreign token fetches (issue 13): another system fetched a token for the AppID, so a token
// the broker held died before its time. The fix is done outside the broker: find every service that still has the
// AppSecret and calls WeChat's token endpoints itself, and point it at the broker.
import type { ForeignRotationRecord } from "../store/adoptionRecords";
import type { DiagnosisCheck } from "./diagnosisReport";
import { beijing, durEn, durZh } from "./timeText";

const VIA: Record<ForeignRotationRecord["via"], { en: string; zh: string }> = {
  probe: { en: "the broker's own probe", zh: "本服务的定时实测" },
  report: { en: "a caller's report", zh: "调用方上报" },
  proxy: { en: "WeChat's answer to a relayed call", zh: "代理转发调用时微信的返回" },
};

export function foreignCheck(record: ForeignRotationRecord, now: number, brokerUrl: string): Omit<DiagnosisCheck, "accountId"> {
  const ago = now - record.at;
  return {
    id: "foreign",
    status: "fail",
    title: { en: "Other token fetchers", zh: "其他获取 token 的系统" },
    detail: {
      en:
        `a token the broker held was killed before its time ${durEn(ago)} ago (${beijing(record.at)} Beijing), ` +
        `noticed through ${VIA[record.via].en}: another system fetches tokens for this AppID, and every fetch can break ` +
        `the others' tokens (40001 / 42001)`,
      zh: `${durZh(ago)}前（北京时间 ${beijing(record.at)}）本服务持有的 token 被提前作废，由${VIA[record.via].zh}发现：另有系统在为该 AppID 获取 token，每次获取都可能使其他系统的 token 失效（40001 / 42001）`,
    },
    fix: {
      en:
        `Find every service that still has this AppSecret and calls api.weixin.qq.com (or qyapi.weixin.qq.com) itself — ` +
        `SDK containers such as wechat-api, WxJava, Senparc, EasyWeChat, wechatpy — and point its API host at the broker ` +
        `(${brokerUrl}): README "Adopting the broker without code changes" lists the setting per SDK. Then reset the ` +
        `AppSecret in the WeChat console (mp.weixin.qq.com → 设置与开发 → 基本配置 → AppSecret) and give the new one to the broker only.`,
      zh:
        `找出所有仍持有该 AppSecret、自行调用 api.weixin.qq.com（或 qyapi.weixin.qq.com）的服务` +
        `（如 wechat-api、WxJava、Senparc、EasyWeChat、wechatpy 等 SDK 容器），把其 API 地址改为本服务（${brokerUrl}），` +
        `各 SDK 的设置见 README「Adopting the broker without code changes」。之后在微信公众平台 → 设置与开发 → 基本配置 中重置 AppSecret，并只配置给本服务。`,
    },
    data: { at: new Date(record.at).toISOString(), via: record.via },
  };
}
