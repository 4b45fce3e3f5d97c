// The proxy's pure parts (src/http/proxy.ts): the query string keeps every parameter but the token byte for byte,
// and metric labels stay bounded whatever the path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { apiLabel, splitQuery } from "../../src/http/proxy";
import { HttpError } from "../../src/http/errors";

void test("splitQuery replaces only the access_token and keeps the other parameters as they were written", () => {
  const q = splitQuery("openid=o%20x&lang=zh_CN&access_token=ab%2Bc&next=%E4%B8%AD");
  assert.equal(q.token, "ab+c");
  assert.equal(q.rebuild("N/W=&"), "openid=o%20x&lang=zh_CN&access_token=N%2FW%3D%26&next=%E4%B8%AD");
});

void test("splitQuery refuses a missing, empty, repeated or undecodable token", () => {
  const errcode = (query: string) => {
    try {
      splitQuery(query);
      return "accepted";
    } catch (err) {
      return err instanceof HttpError ? `http ${err.status}` : (err as { errcode: number }).errcode;
    }
  };
  assert.equal(errcode("openid=1"), 41001);
  assert.equal(errcode(""), 41001);
  assert.equal(errcode("access_token="), 41001);
  assert.equal(errcode("access_token=a&access_token=b"), 40001);
  assert.equal(errcode("access_token=%E0%A4%A"), "http 400");
  assert.equal(errcode("access_tokenx=a"), 41001, "another parameter that starts alike is not the token");
});

void test("apiLabel keeps WeChat's API paths and folds ids and long segments", () => {
  assert.equal(apiLabel("/cgi-bin/user/info"), "/cgi-bin/user/info");
  assert.equal(apiLabel("/wxa/getwxacodeunlimit"), "/wxa/getwxacodeunlimit");
  assert.equal(apiLabel("/card/123456/get"), "/card/:id/get");
  assert.equal(apiLabel(`/cgi-bin/${"A".repeat(140)}`), "/cgi-bin/:id", "a token-like segment never becomes a label");
});
