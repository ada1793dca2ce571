import { describe, expect, it } from "vitest";
import { TRANSIENT_ERRORS } from "../../functions/lib/errors.ts";
import { LOCK_TTL_SECONDS, STATE_MACHINE_TIMEOUT_SECONDS } from "../../functions/lib/lock.ts";
import { loadDefinition } from "../../local/workflow.ts";

/*
 * The offboarding's time bounds, as the onboarding's: every wait and retry bounded, the worst case
 * of all of them under the machine's TimeoutSeconds, which is the onboarding's (the lock they
 * share expires by it).
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

const definition = loadDefinition("offboarding") as unknown as {
  TimeoutSeconds: number;
  States: Record<string, State>;
};
const states = definition.States;
const LOCK_PAUSES = 200;
const LONGEST_LOCK_PAUSE = 60;
const HAND_OVER_SECONDS = 20;

const retryPauses = (retrier: Retrier): number => {
  let total = 0;
  for (let k = 0; k < (retrier.MaxAttempts ?? 3); k++) {
    const pause = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** k;
    total += Math.min(pause, retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
  }
  return total;
};

const invocationOnly = (state: State, retrier: Retrier) =>
  state.HeartbeatSeconds !== undefined &&
  retrier.ErrorEquals.every(
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

describe("the offboarding's time bounds", () => {
  it("gives every Task a TimeoutSeconds, and every Wait a bound", () => {
    const unbounded = Object.entries(states)
      .filter(
        ([, s]) =>
          (s.Type === "Task" && s.TimeoutSeconds === undefined) ||
          (s.Type === "Wait" && s.Seconds === undefined && s.SecondsPath !== "$.lockWait.seconds"),
      )
      .map(([name]) => name);
    expect(unbounded).toEqual([]);
  });

  it("waits on the registrar with a heartbeat shorter than its timeout", () => {
    const waits = Object.entries(states).filter(([, s]) => s.HeartbeatSeconds !== undefined);
    expect(waits.map(([name]) => name)).toEqual(["DeleteAtRedis"]);
    for (const [, state] of waits) expect(state.HeartbeatSeconds).toBeLessThan(state.TimeoutSeconds ?? 0);
  });

  it("sums, in the worst case, to less than 90 % of the machine's TimeoutSeconds", () => {
    const lockLoop = LOCK_PAUSES * (worstSeconds(states.AcquireAccountLock as State) + LONGEST_LOCK_PAUSE);
    const once = Object.entries(states)
      .filter(([name]) => name !== "WaitForLock")
      .reduce((sum, [, state]) => sum + worstSeconds(state), 0);
    const worst = once + lockLoop;
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
