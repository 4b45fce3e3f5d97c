// BrokerEvents that also keep the last foreign rotation of each account in the shared records, so every replica's
// diagnosis (and the CLI's) can name the problem, not only the replica that noticed it.
import type { Logger } from "../logger";
import type { AdoptionRecords } from "../store/adoptionRecords";
import type { BrokerEvents } from "./events";
import { safeErr } from "./tokenService";

/** How long the diagnosis shows a foreign rotation after the last one: a day, so a daily fetcher keeps it red. */
export const FOREIGN_RECORD_KEEP_MS = 24 * 3600_000;

export function recordingForeignRotations<E extends BrokerEvents>(
  events: E,
  records: AdoptionRecords,
  logger: Logger,
  now: () => number = Date.now,
): E {
  const foreignRotation: BrokerEvents["foreignRotation"] = (accountId, via) => {
    events.foreignRotation(accountId, via);
    records
      .noteForeign(accountId, { at: now(), via }, FOREIGN_RECORD_KEEP_MS)
      .catch((err: unknown) => logger.warn({ accountId, err: safeErr(err) }, "could not record the foreign rotation"));
  };
  // Each method is bound once (keyed by the function, so a replaced method is bound anew): the token service calls
  // through here on every hit, and a bind per call showed in profiles.
  const bound = new WeakMap<object, unknown>();
  return new Proxy(events, {
    get(target, prop) {
      if (prop === "foreignRotation") return foreignRotation;
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== "function") return v;
      let f = bound.get(v);
      if (f === undefined) bound.set(v, (f = (v as (...a: unknown[]) => unknown).bind(target)));
      return f;
    },
  });
}
