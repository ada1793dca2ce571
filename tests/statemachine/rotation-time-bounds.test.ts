import { describe, expect, it } from "vitest";
import { LOCK_TTL_SECONDS } from "../../functions/lib/lock.ts";
import {
  heartbeatStates,
  loadMachine,
  lockedWorstCase,
  type State,
  unboundedStates,
} from "../support/time-bounds.ts";

/*
 * The rotation's time bounds, judged as the onboarding's are: every wait and retry bounded, and the
 * worst case of all of them (each state once, the lock's wait loop to its cap) well under the
 * machine's TimeoutSeconds, so that no rotation is stopped mid-way with nothing caught (the lock
 * held, a new key left, no failure event).
 */

const definition = loadMachine("rotation");
const states = definition.States;

describe("the rotation's time bounds", () => {
  it("gives every Task a TimeoutSeconds and every Wait a bound", () => {
    expect(unboundedStates(states)).toEqual([]);
  });

  it("sums, in the worst case, to less than 90 % of the machine's TimeoutSeconds", () => {
    const worst = lockedWorstCase(states);
    expect(Number.isFinite(worst)).toBe(true);
    expect(worst).toBeLessThan(0.9 * definition.TimeoutSeconds);
    console.log(
      `rotation: worst case ${Math.round(worst / 3600)} h of ${definition.TimeoutSeconds / 3600} h`,
    );
  });

  it("holds the onboarding's lock no longer than the lock's own expiry", () => {
    expect(LOCK_TTL_SECONDS).toBeGreaterThan(definition.TimeoutSeconds);
  });

  it("waits on the registrar with heartbeats, and catches every wait that ends badly", () => {
    const waits = heartbeatStates(states);
    expect(waits.map(([name]) => name).sort()).toEqual([
      "AskRedisStatus",
      "StatusBeforeUndo",
      "SwitchRedisToPendingKey",
    ]);
    for (const [, state] of waits) {
      expect(state.HeartbeatSeconds).toBeLessThan(state.TimeoutSeconds ?? 0);
      expect(state.Catch?.some((c) => c.ErrorEquals.includes("States.ALL"))).toBe(true);
    }
  });

  it("sends every failure before the switch to the undo, and none after it", () => {
    for (const name of ["CreatePendingKey", "VerifyPendingKey", "SwitchRedisToPendingKey"]) {
      expect((states[name] as State).Catch?.map((c) => c.Next)).toEqual(["StatusBeforeUndo"]);
    }
    for (const name of ["PromotePendingVersion", "DeactivateOldKey", "DeleteOldKey"]) {
      expect((states[name] as State).Catch?.map((c) => c.Next)).toEqual(["SwitchedButFailed"]);
    }
  });
});
