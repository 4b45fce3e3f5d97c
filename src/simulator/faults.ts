// Faults injected into an app's next calls: the queue as the simulator keeps it, and which pending fault (if any)
// a call to an endpoint fires.
import type { SimEndpoint } from "./calls";
import type { SimFault } from "./types";

/** A fault without `endpoints` applies to the token endpoints only, so a broker's probes keep working. */
export const DEFAULT_FAULT_ENDPOINTS: readonly SimEndpoint[] = ["token", "stable_token", "gettoken"];

export interface ActiveFault {
  fault: SimFault;
  /** -1: until cleared. */
  remaining: number;
}

export function activeFaults(faults: readonly SimFault[] | undefined): ActiveFault[] {
  return (faults ?? []).map((f) => ({ fault: { ...f }, remaining: f.times ?? 1 }));
}

/** The first pending fault that applies to `endpoint`, counted down (and dropped when used up); undefined: none. */
export function takeFault(faults: ActiveFault[], endpoint: SimEndpoint): SimFault | undefined {
  const idx = faults.findIndex((f) => (f.fault.endpoints ?? DEFAULT_FAULT_ENDPOINTS).includes(endpoint));
  const active = faults[idx];
  if (active === undefined) return undefined;
  if (active.remaining > 0) {
    active.remaining--;
    if (active.remaining === 0) faults.splice(idx, 1);
  }
  return active.fault;
}
