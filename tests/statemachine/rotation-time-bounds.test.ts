import { describe, expect, it } from "vitest";
import { TRANSIENT_ERRORS } from "../../functions/lib/errors.ts";
import { LOCK_TTL_SECONDS } from "../../functions/lib/lock.ts";
import { loadDefinition } from "../../local/workflow.ts";

/*
 * The rotation's time bounds, judged as the onboarding's are: every wait and retry bounded, and the
 * worst case of all of them (each state once, the lock's wait loop to its cap) well under the
 * machine's TimeoutSeconds, so that no rotation is stopped mid-way with nothing caught (the lock
 * held, a new key left, no failure event).
 */

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  BackoffRate?: number;
  MaxAttempts?: number;
  MaxDelaySeconds?: number;
}
interface State {
  Type: string;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  Seconds?: number;
  SecondsPath?: string;
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
}

const definition = loadDefinition("rotation") as unknown as {
  TimeoutSeconds: number;
  States: Record<string, State>;
};
const states = definition.States;
const LOCK_PAUSES = 200;
const LONGEST_LOCK_PAUSE = 60;
/** The hand-over function's timeout in serverless.yml. */
const HAND_OVER_SECONDS = 20;

const retryPauses = (r: Retrier): number => {
  let total = 0;
  for (let k = 0; k < (r.MaxAttempts ?? 3); k++) {
    total += Math.min(
      (r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** k,
      r.MaxDelaySeconds ?? Number.POSITIVE_INFINITY,
    );
  }
  return total;
};

const invocationOnly = (state: State, r: Retrier) =>
  state.HeartbeatSeconds !== undefined &&
  r.ErrorEquals.every(
    (name) => name.startsWith("Lambda.") || (TRANSIENT_ERRORS as readonly string[]).includes(name),
  );

function worstSeconds(state: State): number {
  if (state.Type === "Wait") return state.Seconds ?? LONGEST_LOCK_PAUSE;
  if (state.Type !== "Task") return 0;
  const timeout = state.TimeoutSeconds ?? Number.POSITIVE_INFINITY;
  const retriers = state.Retry ?? [];
  const attempts = retriers.reduce(
    (sum, r) => sum + (r.MaxAttempts ?? 3) * (invocationOnly(state, r) ? HAND_OVER_SECONDS : timeout),
    timeout,
  );
  return attempts + retriers.reduce((sum, r) => sum + retryPauses(r), 0);
}

describe("the rotation's time bounds", () => {
  it("gives every Task a TimeoutSeconds and every Wait a bound", () => {
    const unbounded = Object.entries(states)
      .filter(
        ([, s]) =>
          (s.Type === "Task" && s.TimeoutSeconds === undefined) ||
          (s.Type === "Wait" && s.Seconds === undefined && s.SecondsPath !== "$.lockWait.seconds"),
      )
      .map(([name]) => name);
    expect(unbounded).toEqual([]);
  });

  it("sums, in the worst case, to less than 90 % of the machine's TimeoutSeconds", () => {
    const lockLoop = LOCK_PAUSES * (worstSeconds(states.AcquireAccountLock as State) + LONGEST_LOCK_PAUSE);
    const once = Object.entries(states)
      .filter(([name]) => name !== "WaitForLock")
      .reduce((sum, [, state]) => sum + worstSeconds(state), 0);
    const worst = once + lockLoop;
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
    const waits = Object.entries(states).filter(([, s]) => s.HeartbeatSeconds !== undefined);
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
