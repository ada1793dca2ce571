import { describe, expect, it } from "vitest";
import { LOCK_TTL_SECONDS, STATE_MACHINE_TIMEOUT_SECONDS } from "../../functions/lib/lock.ts";
import {
  heartbeatStates,
  loadMachine,
  lockedWorstCase,
  type State,
  unboundedStates,
  worstSeconds,
} from "../support/time-bounds.ts";

/*
 * No run is left without an end: every wait and retry of the definition is bounded, and the
 * worst case of all of them, each state visited once and the lock's loop to its cap, stays under
 * the machine's own TimeoutSeconds with margin. Were it not, Step Functions would stop a run
 * mid-way with nothing caught: no rollback, the lock held, no failure event.
 */

const definition = loadMachine();
const states = definition.States;

describe("the onboarding's time bounds", () => {
  it("gives every Task a TimeoutSeconds, and every Wait a bound", () => {
    expect(unboundedStates(states)).toEqual([]);
  });

  it("waits on the registrar with a heartbeat shorter than its timeout, so a silent registrar is noticed", () => {
    const waits = heartbeatStates(states);
    expect(waits.map(([name]) => name).sort()).toEqual(["RegisterCloudAccount", "WithdrawRegistration"]);
    for (const [, state] of waits) expect(state.HeartbeatSeconds).toBeLessThan(state.TimeoutSeconds ?? 0);
  });

  it("sums, in the worst case, to less than 90 % of the machine's TimeoutSeconds", () => {
    const worst = lockedWorstCase(states);
    expect(Number.isFinite(worst)).toBe(true);
    expect(worst).toBeLessThan(0.9 * definition.TimeoutSeconds);
    // The queue at Redis is most of it: 36 h per hand-over, handed over at most twice.
    expect(worstSeconds(states.RegisterCloudAccount as State)).toBeGreaterThan(0.5 * worst);
  });

  it("keeps the account's lock longer than any run can last", () => {
    expect(definition.TimeoutSeconds).toBe(STATE_MACHINE_TIMEOUT_SECONDS);
    expect(LOCK_TTL_SECONDS).toBeGreaterThan(definition.TimeoutSeconds);
  });

  it("catches a timed-out or silent registrar and rolls back, never ending uncaught", () => {
    for (const name of ["RegisterCloudAccount", "WithdrawRegistration"]) {
      const state = states[name] as State & { Catch?: { ErrorEquals: string[]; Next: string }[] };
      expect(state.Catch?.some((c) => c.ErrorEquals.includes("States.ALL"))).toBe(true);
    }
    const register = states.RegisterCloudAccount as State & { Catch: { Next: string }[] };
    expect(register.Catch.map((c) => c.Next)).toEqual(["WithdrawRegistration"]);
  });
});
