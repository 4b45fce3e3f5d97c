import { test } from "node:test";
import assert from "node:assert/strict";
import { extractIp, extractRid, sanitizeErrmsg, MAX_ERRMSG_LENGTH } from "../../src/wechat/errmsg";

void test("the IP and rid are read from today's 40164 errmsg with an ipv6 part", () => {
  const m = "invalid ip 1.92.157.200 ipv6 ::ffff:1.92.157.200, not in whitelist rid: 68231586-663e56da-1e04e5eb";
  assert.equal(extractIp(m), "1.92.157.200");
  assert.equal(extractRid(m), "68231586-663e56da-1e04e5eb");
});

void test("the IP and rid are read from the 40164 variant with a comma before rid", () => {
  const m = "invalid ip 218.58.124.130 ipv6 ::ffff:218.58.124.130, not in whitelist, rid: 6392f3df-5ec06d49-2fa07bbf";
  assert.equal(extractIp(m), "218.58.124.130");
  assert.equal(extractRid(m), "6392f3df-5ec06d49-2fa07bbf");
});

void test("the IP and hint id are read from the 2020 40164 variant with hint: […]", () => {
  const m = "invalid ip 101.45.43.1 ipv6 ::ffff:101.45.43.1, not in whitelist hint: [jotvMa01143580]";
  assert.equal(extractIp(m), "101.45.43.1");
  assert.equal(extractRid(m), "jotvMa01143580");
});

void test("the IP and hint id are read from the pre-2018 40164 format without ipv6", () => {
  const m = "invalid ip 61.172.68.219, not in whitelist hint: [KJZfAa0644e575]";
  assert.equal(extractIp(m), "61.172.68.219");
  assert.equal(extractRid(m), "KJZfAa0644e575");
});

void test("the IP is read from a 40164 errmsg with no suffix, and the rid is absent", () => {
  const m = "invalid ip 119.253.43.19, not in whitelist";
  assert.equal(extractIp(m), "119.253.43.19");
  assert.equal(extractRid(m), undefined);
});

void test("the IP and hint are read from WeCom's 60020 errmsg", () => {
  const m =
    "not allow to access from your ip, hint: [1706848717432011565347844], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e=60020";
  assert.equal(extractIp(m), "1.2.3.4");
  assert.equal(extractRid(m), "1706848717432011565347844");
});

void test("the IP and rid are read from 61004's requestIP", () => {
  const m = "access clientip is not registered requestIP: 27.18.103.5 rid: 62a9a3ac-204f22d9-196a7580";
  assert.equal(extractIp(m), "27.18.103.5");
  assert.equal(extractRid(m), "62a9a3ac-204f22d9-196a7580");
});

void test("the caller IP WeCom reports on other errors (from ip:) is read too", () => {
  const m =
    "invalid credential, hint: [1754461450424274146823225], from ip: 106.39.37.123, more info at https://open.work.weixin.qq.com/devtool/query?e=40001";
  assert.equal(extractIp(m), "106.39.37.123");
  assert.equal(extractRid(m), "1754461450424274146823225");
});

void test("an IPv6 caller is returned as IPv6, and an IPv4-mapped one as IPv4", () => {
  assert.equal(
    extractIp("invalid ip 2408:8207:1851:10e0::1 ipv6 2408:8207:1851:10e0::1, not in whitelist rid: 1"),
    "2408:8207:1851:10e0::1",
  );
  assert.equal(extractIp("invalid ip xxx ipv6 ::ffff:10.1.2.3, not in whitelist"), "10.1.2.3");
  assert.equal(extractIp("not allow to access from your ip, from ip: ::ffff:8.8.4.4, more info at x"), "8.8.4.4");
});

void test("something that looks like an IP but is not one is not returned", () => {
  assert.equal(extractIp("invalid ip 999.1.1.1, not in whitelist"), undefined);
  assert.equal(extractIp("invalid ip 1.2.3, not in whitelist"), undefined);
  assert.equal(extractIp("invalid ip A.B.C.D ipv6 ::ffff:A.B.C.D, not in whitelist"), undefined);
  assert.equal(extractIp("from ip: ::::, more info"), undefined);
});

void test("errmsgs without an IP or an id give undefined", () => {
  for (const m of ["invalid appsecret", "system error", "", undefined]) {
    assert.equal(extractIp(m), undefined);
    assert.equal(extractRid(m), undefined);
  }
  assert.equal(extractRid("invalid appsecret rid: 671b9ddb-6ce940c8-7d5bcaf9"), "671b9ddb-6ce940c8-7d5bcaf9");
});

void test("the older hints: [ req_id: … ] and the 40001 hint with a ! are read as ids", () => {
  assert.equal(extractRid("api freq out of limit hints: [ req_id: ItMTDA0250ns71 ]"), "ItMTDA0250ns71");
  assert.equal(extractRid("invalid credential, access_token is invalid or not latest hint: [dLTTea0566vr46!]"), "dLTTea0566vr46!");
});

void test("sanitizing an errmsg removes every secret, control characters and excess length", () => {
  const secret = "S3cr3t-never-leak-0001";
  const out = sanitizeErrmsg(`bad ${secret}\nagain ${secret}\u0000`, [secret, undefined, ""]);
  assert.equal(out, "bad [REDACTED] again [REDACTED]");
  const long = sanitizeErrmsg("x".repeat(2000));
  assert.equal(long.length, MAX_ERRMSG_LENGTH + 1);
  assert.ok(long.endsWith("…"));
});

void test("a secret straddling the length cap is removed before the cap cuts it", () => {
  const secret = "S3cr3t-never-leak-0002";
  const out = sanitizeErrmsg("y".repeat(MAX_ERRMSG_LENGTH - 5) + secret, [secret]);
  assert.ok(!out.includes(secret.slice(0, 5)));
});
