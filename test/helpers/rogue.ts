// Another system fetching tokens for the same AppID behind the broker's back: the way a token really dies at
// WeChat. Tests use it where a caller's report must be true (a report of a token WeChat still accepts is now
// answered "still_valid" and rotates nothing).

/** Fetches `times` classic tokens for the app straight from the simulator. Two kill the token held before them at
 * once (WeChat keeps only the current and the previous token). */
export async function rogueClassicFetch(simUrl: string, appId: string, secret: string, times = 2): Promise<void> {
  for (let i = 0; i < times; i++) {
    const q = new URLSearchParams({ grant_type: "client_credential", appid: appId, secret });
    const res = await fetch(`${simUrl}/cgi-bin/token?${q.toString()}`);
    const body = (await res.json()) as { access_token?: string; errcode?: number };
    if (!body.access_token) throw new Error(`rogue fetch refused: errcode ${String(body.errcode)}`);
  }
}
