// WeChat's published daily limits of the token endpoints, as the diagnosis and the ops gauges compare the broker's
// own counts against them. The quota day they count over is quotaDay in src/clock.ts.
import type { TokenSource } from "../accounts";

/**
 * WeChat's daily limits of the token endpoints (docs/wechat-api.md §6.1): null = none published. Test accounts get
 * 200/day and big accounts more; the MP backend (设置与开发 → 接口权限) shows the real figure.
 */
export const DAILY_TOKEN_QUOTA: Readonly<Record<TokenSource, number | null>> = { classic: 2000, stable: 500_000, wecom: null };
