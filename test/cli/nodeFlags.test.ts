// `serve` under the V8 flags the container passes (src/cli/nodeFlags.ts): it says so once when started without them,
// so an operator who runs it another way learns what the image does differently.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BROKER_NODE_FLAGS, missingNodeFlags } from "../../src/cli/nodeFlags";
import { spawnServe } from "../helpers/processes";

test("missingNodeFlags names the broker's flags a command line lacks", () => {
  assert.deepEqual(missingNodeFlags([]), [...BROKER_NODE_FLAGS]);
  assert.deepEqual(missingNodeFlags(["--inspect", ...BROKER_NODE_FLAGS]), []);
});

test("serve logs once that node runs without the broker's V8 flags, and nothing when it has them", async () => {
  for (const nodeArgs of [[], [...BROKER_NODE_FLAGS]]) {
    const broker = await spawnServe({ LOG_LEVEL: "info" }, { wait: "up", nodeArgs });
    try {
      const lines = broker
        .output()
        .split("\n")
        .filter((l) => l.includes("node runs without"));
      if (nodeArgs.length === 0) {
        assert.equal(lines.length, 1, broker.output());
        const line = JSON.parse(lines[0]!) as { level: number; missing: string[] };
        assert.deepEqual(line.missing, [...BROKER_NODE_FLAGS]);
      } else assert.deepEqual(lines, [], "no notice when node has the flags");
    } finally {
      await broker.stop();
    }
  }
});
