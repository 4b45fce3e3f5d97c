import { test } from "node:test";
import assert from "node:assert/strict";
import { assertIssue, KEY, load, loadError, sources } from "./helpers";

const KEYS = JSON.stringify([{ name: "orders", key: KEY }]);
const REFUSAL = (host: string) =>
  `refusing to serve tokens unauthenticated on ${host}: configure API_KEYS or API_KEYS_FILE, or bind HOST=127.0.0.1`;

void test("without API keys authentication is off and the broker binds to 127.0.0.1", () => {
  const c = load({});
  assert.equal(c.auth.required, false);
  assert.equal(c.host, "127.0.0.1");
});

void test("with API keys authentication is on and the broker binds to every interface", () => {
  const c = load({ API_KEYS: KEYS });
  assert.equal(c.auth.required, true);
  assert.equal(c.host, "0.0.0.0");
});

void test("without API keys an explicit 0.0.0.0 is refused with instructions", () => {
  assertIssue(loadError({ HOST: "0.0.0.0" }), "HOST", REFUSAL("0.0.0.0"));
});

void test("without API keys every non-loopback host is refused", () => {
  for (const host of ["::", "10.0.0.5", "192.168.1.10", "fd00::1", "broker.internal", "128.0.0.1", "::ffff:10.0.0.1"]) {
    assertIssue(loadError({ HOST: host }), "HOST", REFUSAL(host));
  }
});

void test("without API keys loopback addresses in any spelling are allowed", () => {
  for (const host of ["127.0.0.1", "127.4.5.6", "::1", "0:0:0:0:0:0:0:1", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]) {
    assert.equal(load({ HOST: host }).host, host, host);
  }
});

void test("with API keys any valid host may be bound", () => {
  assert.equal(load({ API_KEYS: KEYS, HOST: "10.0.0.5" }).host, "10.0.0.5");
  assert.equal(load({ API_KEYS: KEYS, HOST: "127.0.0.1" }).host, "127.0.0.1");
});

void test("an empty API-key list does not count as authentication", () => {
  assertIssue(loadError({ API_KEYS: "[]", HOST: "0.0.0.0" }), "HOST", REFUSAL("0.0.0.0"));
});

void test("when the configured keys are broken only the key problems are reported, not the host", () => {
  const err = loadError({ API_KEYS: '[{"name":"a","key":"too-short"}]', HOST: "0.0.0.0" });
  assert.deepEqual(sources(err), ["API_KEYS: [0].key"]);
});

void test("a HOST that is not an address or a host name is refused", () => {
  assertIssue(loadError({ API_KEYS: KEYS, HOST: "[::1]" }), "HOST", "must be written without brackets (e.g. ::1)");
  assertIssue(loadError({ API_KEYS: KEYS, HOST: "bad host" }), "HOST", "must be an IP address or a host name");
});
