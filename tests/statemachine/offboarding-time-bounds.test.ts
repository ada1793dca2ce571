import { describe, expect, it } from "vitest";
import { LOCK_TTL_SECONDS, STATE_MACHINE_TIMEOUT_SECONDS } from "../../functions/lib/lock.ts";
import { heartbeatStates, loadMachine, lockedWorstCase, unboundedStates } from "../support/time-bounds.ts";

/*
 * The offboarding's time bounds, as the onboarding's: every wait and retry bounded, the worst case
 * of all of them under the machine's TimeoutSeconds, which is the onboarding's (the lock they
 * share expires by it).
 */

const definition = loadMachine("offboarding");
const states = definition.States;

describe("the offboarding's time bounds", () => {
  it("gives every Task a TimeoutSeconds, and every Wait a bound", () => {
    expect(unboundedStates(states)).toEqual([]);
  });

  it("waits on the registrar with a heartbeat shorter than its timeout", () => {
    const waits = heartbeatStates(states);
    expect(waits.map(([name]) => name)).toEqual(["DeleteAtRedis"]);
    for (const [, state] of waits) expect(state.HeartbeatSeconds).toBeLessThan(state.TimeoutSeconds ?? 0);
  });

  it("sums, in the worst case, to less than 90 % of the machine's TimeoutSeconds", () => {
    const worst = lockedWorstCase(states);
    expect(Number.isFinite(worst)).toBe(true);
    expect(worst).toBeLessThan(0.9 * definition.TimeoutSeconds);
  });

  it("ends within the lock it shares with the onboarding", () => {
    expect(definition.TimeoutSeconds).toBe(STATE_MACHINE_TIMEOUT_SECONDS);
    expect(LOCK_TTL_SECONDS).toBeGreaterThan(definition.TimeoutSeconds);
  });

  it("catches every Task's failure: none ends the run uncaught, the lock held", () => {
    const uncaught = Object.entries(states)
      .filter(([, s]) => s.Type === "Task" && !s.Catch?.some((c) => c.ErrorEquals.includes("States.ALL")))
      .map(([name]) => name);
    expect(uncaught).toEqual([]);
  });
});
