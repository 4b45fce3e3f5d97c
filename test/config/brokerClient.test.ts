// BROKER_URL and BROKER_API_KEY(_FILE): how the one-shot commands reach the running broker in embedded mode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { describeConfig } from "../../src/config";
import { assertIssue, load, loadError } from "./helpers";

const KEY = "broker-client-key-NEVER-shown-0123456789";

test("the default BROKER_URL is this host's broker: PORT, a specific HOST kept, 0.0.0.0 and :: reached on loopback", () => {
  assert.equal(load({}).brokerClient.url, "http://127.0.0.1:8084");
  assert.equal(load({ PORT: "9000", HOST: "127.0.0.2" }).brokerClient.url, "http://127.0.0.2:9000");
  assert.equal(load({ HOST: "::1" }).brokerClient.url, "http://[::1]:8084");
  const keys = JSON.stringify([{ name: "ops", key: KEY, role: "admin" }]);
  assert.equal(load({ API_KEYS: keys }).brokerClient.url, "http://127.0.0.1:8084", "0.0.0.0 is reached on loopback");
  assert.equal(load({ API_KEYS: keys, HOST: "::" }).brokerClient.url, "http://[::1]:8084");
  assert.equal(load({}).brokerClient.fromEnv, false);
});

test("BROKER_URL wins, without its trailing slash; it must be http(s) without credentials or query", () => {
  const c = load({ BROKER_URL: "https://broker.internal:8443/wtb/" });
  assert.equal(c.brokerClient.url, "https://broker.internal:8443/wtb");
  assert.equal(c.brokerClient.fromEnv, true);
  assertIssue(loadError({ BROKER_URL: "ftp://x" }), "BROKER_URL", /http:\/\/ or https:\/\//);
  assertIssue(loadError({ BROKER_URL: "http://u:p@x" }), "BROKER_URL", /credentials/);
  assertIssue(loadError({ BROKER_URL: "http://x/?a=1" }), "BROKER_URL", /query/);
});

test("BROKER_API_KEY is read from the variable or a file, and never shows in a serialised, inspected or described config", () => {
  const direct = load({ BROKER_API_KEY: KEY });
  assert.equal(direct.brokerClient.apiKey, KEY);
  const fromFile = load({ BROKER_API_KEY_FILE: "/run/secrets/key" }, { "/run/secrets/key": `${KEY}\n` });
  assert.equal(fromFile.brokerClient.apiKey, KEY, "the trailing newline is not part of the key");
  for (const text of [JSON.stringify(direct), inspect(direct, { depth: 10 }), JSON.stringify(describeConfig(direct))]) {
    assert.ok(!text.includes(KEY), text.slice(0, 200));
  }
});

test("a BROKER_API_KEY the broker could never accept, or both forms, is a configuration error that does not repeat it", () => {
  const spaced = loadError({ BROKER_API_KEY: "has a space in it" });
  assertIssue(spaced, "BROKER_API_KEY", /printable ASCII characters without spaces/);
  assert.ok(!spaced.message.includes("has a space in it"));
  assertIssue(loadError({ BROKER_API_KEY: KEY, BROKER_API_KEY_FILE: "/k" }, { "/k": KEY }), "BROKER_API_KEY_FILE", /both set/);
});
