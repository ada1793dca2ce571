import { describe, expect, it } from "vitest";
import { TRANSIENT_ERRORS } from "../../functions/lib/errors.ts";
import { LOCK_TTL_SECONDS, STATE_MACHINE_TIMEOUT_SECONDS } from "../../functions/lib/lock.ts";
import { loadDefinition } from "../../local/workflow.ts";

/*
 * No run is left without an end: every wait and retry of the definition is bounded, and the
 * worst case of all of them, each state visited once and the lock's loop to its cap, stays under
 * the machine's own TimeoutSeconds with margin. Were it not, Step Functions would stop a run
 * mid-way with nothing caught: no rollback, the lock held, no failure event.
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
}

const definition = loadDefinition() as unknown as { TimeoutSeconds: number; States: Record<string, State> };
const states = definition.States;

/** The lock's wait loop: its cap of pauses, and the longest pause (the last of CountLockWait's table). */
const LOCK_PAUSES = 200;
const LONGEST_LOCK_PAUSE = 60;

/** Step Functions' defaults for a retrier that leaves them out. */
const retryPauses = (retrier: Retrier): number => {
  const attempts = retrier.MaxAttempts ?? 3;
  let total = 0;
  for (let k = 0; k < attempts; k++) {
    const pause = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** k;
    total += Math.min(pause, retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
  }
  return total;
};

/** The hand-over function's own timeout (serverless.yml): how long a failed invocation can take. */
const HAND_OVER_SECONDS = 20;

/**
 * A retrier of a task-token wait that matches only the hand-over's own failures: its invocation's,
 * and transient ones, which the registrar never answers with (it retries them itself).
 */
const invocationOnly = (state: State, retrier: Retrier) =>
  state.HeartbeatSeconds !== undefined &&
  retrier.ErrorEquals.every(
    (name) => name.startsWith("Lambda.") || (TRANSIENT_ERRORS as readonly string[]).includes(name),
  );

/**
 * A task's worst case: every attempt of every retrier to its timeout, with every pause between.
 * An attempt of a task-token wait that failed at its invocation ended within the invocation.
 */
function worstSeconds(state: State): number {
  if (state.Type === "Wait") {
    if (state.Seconds !== undefined) return state.Seconds;
    return LONGEST_LOCK_PAUSE;
  }
  if (state.Type !== "Task") return 0;
  const timeout = state.TimeoutSeconds ?? Number.POSITIVE_INFINITY;
  const retriers = state.Retry ?? [];
  const attempts = retriers.reduce(
    (sum, r) => sum + (r.MaxAttempts ?? 3) * (invocationOnly(state, r) ? HAND_OVER_SECONDS : timeout),
    timeout,
  );
  return attempts + retriers.reduce((sum, r) => sum + retryPauses(r), 0);
}

describe("the onboarding's time bounds", () => {
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

  it("waits on the registrar with a heartbeat shorter than its timeout, so a silent registrar is noticed", () => {
    const waits = Object.entries(states).filter(([, s]) => s.HeartbeatSeconds !== undefined);
    expect(waits.map(([name]) => name).sort()).toEqual(["RegisterCloudAccount", "WithdrawRegistration"]);
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
