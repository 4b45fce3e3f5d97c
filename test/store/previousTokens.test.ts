// The proxy stands behind an account's current token and, during WeChat's overlap, the one it replaced. These
// tests hold that at every moment of a rotation, including while the new token is being written.
import { test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { IssuedTokens } from "../../src/broker/issuedTokens";
import { MemoryAdoptionRecords } from "../../src/store/adoptionRecords";
import { MemoryTokenStore } from "../../src/store/memoryStore";
import { trackPreviousTokens } from "../../src/store/previousTokens";
import type { StoredToken, WriteResult } from "../../src/store/types";
import { freshAccount, token } from "./contract";

const OVERLAP_MS = 300_000;

/** A tracked memory store whose inner write reports, once it has stored the new token, whether `held` is accepted. */
function rig() {
  const inner = new MemoryTokenStore();
  const records = new MemoryAdoptionRecords();
  const account = freshAccount();
  const store = trackPreviousTokens(inner, { records, overlapMs: OVERLAP_MS, logger: pino({ level: "silent" }) });
  const issued = new IssuedTokens({ store, records, accountIds: () => [account] });
  const acceptedDuringWrite: boolean[] = [];
  let held: string | undefined;
  const write = inner.write.bind(inner);
  inner.write = async (id: string, t: StoredToken): Promise<WriteResult> => {
    const result = await write(id, t);
    if (held !== undefined) acceptedDuringWrite.push(await issued.isIssued(id, held));
    return result;
  };
  return { store, records, account, issued, acceptedDuringWrite, hold: (t: string) => (held = t) };
}

void test("a caller holding the token a rotation replaces is accepted while the new one is written, and after", async () => {
  const r = rig();
  const first = token(1);
  await r.store.write(r.account, first);
  r.hold(first.accessToken);
  const second = token(2);
  assert.equal(await r.store.write(r.account, second), "written");
  assert.deepEqual(r.acceptedDuringWrite, [true], "accepted the moment the new token is stored");
  assert.equal(await r.issued.isIssued(r.account, first.accessToken), true, "accepted during the overlap");
  assert.equal(await r.issued.isIssued(r.account, second.accessToken), true);
  assert.equal(await r.issued.accountOf(second.accessToken), r.account, "the new token is indexed for the proxy");
});

void test("the replaced token is accepted only until the overlap ends or it expires, whichever comes first", async () => {
  const r = rig();
  const soon = Date.now() + 60_000;
  const first = token(1, { expiresAt: soon });
  await r.store.write(r.account, first);
  await r.store.write(r.account, token(2));
  assert.equal(await r.records.isPrevious(r.account, first.accessToken, soon - 1), true);
  assert.equal(await r.records.isPrevious(r.account, first.accessToken, soon), false, "it expired before the overlap ended");

  const second = (await r.store.get(r.account))!;
  const at = Date.now();
  await r.store.write(r.account, token(3));
  assert.equal(await r.records.isPrevious(r.account, second.accessToken, at + OVERLAP_MS - 1_000), true);
  assert.equal(await r.records.isPrevious(r.account, second.accessToken, at + OVERLAP_MS + 1_000), false, "the overlap ended");
  assert.equal(await r.records.isPrevious(r.account, first.accessToken, at), false, "only the last replaced token is remembered");
});

void test("a write refused by the fence replaces nothing: the current token stays accepted and the new one is not indexed", async () => {
  const r = rig();
  const current = token(5);
  await r.store.write(r.account, current);
  const late = token(4);
  assert.equal(await r.store.write(r.account, late), "fenced");
  assert.equal(await r.issued.isIssued(r.account, current.accessToken), true);
  assert.equal(await r.issued.accountOf(late.accessToken), null, "a token that was never stored is not stood behind");
});
