import { TRANSIENT_ERRORS } from "../../functions/lib/errors.ts";
import { loadDefinition, type WorkflowName } from "../../local/workflow.ts";

/*
 * The worst case of a definition's states, as the time-bounds tests of every workflow judge it:
 * every attempt of every retrier to its timeout, every pause between, every Wait to its bound.
 * Written once so that each machine is measured by the same rule.
 */

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  BackoffRate?: number;
  MaxAttempts?: number;
  MaxDelaySeconds?: number;
}

export interface State {
  Type: string;
  TimeoutSeconds?: number;
  HeartbeatSeconds?: number;
  Seconds?: number;
  SecondsPath?: string;
  Retry?: Retrier[];
  Catch?: { ErrorEquals: string[]; Next: string }[];
  MaxConcurrency?: number;
  ItemProcessor?: { States: Record<string, State> };
  Parameters?: { Payload?: { kind?: string } };
}

export interface Machine {
  TimeoutSeconds: number;
  States: Record<string, State>;
}

/** A workflow's definition, read as the states these tests look at. */
export const loadMachine = (name?: WorkflowName): Machine => loadDefinition(name) as unknown as Machine;

/** The lock's wait loop: its cap of pauses, and the longest pause (the last of CountLockWait's table). */
export const LOCK_PAUSES = 200;
export const LONGEST_LOCK_PAUSE = 60;

/** The hand-over function's own timeout (serverless.yml): how long a failed invocation can take. */
export const HAND_OVER_SECONDS = 20;

/** A retrier's pauses, all attempts spent; Step Functions' defaults for what it leaves out. */
export const retryPauses = (retrier: Retrier): number => {
  let total = 0;
  for (let k = 0; k < (retrier.MaxAttempts ?? 3); k++) {
    const pause = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** k;
    total += Math.min(pause, retrier.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
  }
  return total;
};

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
 * A state's worst case. A Task: every attempt of every retrier to its timeout, with every pause
 * between; an attempt of a task-token wait that failed at its invocation ended within the
 * invocation. A Wait: its Seconds, or for the lock's wait the longest pause. Anything else: 0.
 */
export function worstSeconds(state: State | undefined): number {
  if (state?.Type === "Wait") return state.Seconds ?? LONGEST_LOCK_PAUSE;
  if (state?.Type !== "Task") return 0;
  const timeout = state.TimeoutSeconds ?? Number.POSITIVE_INFINITY;
  const retriers = state.Retry ?? [];
  const attempts = retriers.reduce(
    (sum, r) => sum + (r.MaxAttempts ?? 3) * (invocationOnly(state, r) ? HAND_OVER_SECONDS : timeout),
    timeout,
  );
  return attempts + retriers.reduce((sum, r) => sum + retryPauses(r), 0);
}

/** The states left unbounded: a Task without TimeoutSeconds, a Wait with neither Seconds nor the lock's pause. */
export const unboundedStates = (states: Record<string, State>): string[] =>
  Object.entries(states)
    .filter(
      ([, s]) =>
        (s.Type === "Task" && s.TimeoutSeconds === undefined) ||
        (s.Type === "Wait" && s.Seconds === undefined && s.SecondsPath !== "$.lockWait.seconds"),
    )
    .map(([name]) => name);

/** The states that wait on the registrar with a heartbeat, with their names. */
export const heartbeatStates = (states: Record<string, State>): [string, State][] =>
  Object.entries(states).filter(([, s]) => s.HeartbeatSeconds !== undefined);

/**
 * The worst case of a machine that takes the account's lock: each state visited once, and the
 * lock's loop (AcquireAccountLock, then WaitForLock's longest pause) to its cap.
 */
export function lockedWorstCase(states: Record<string, State>): number {
  const lockLoop = LOCK_PAUSES * (worstSeconds(states.AcquireAccountLock) + LONGEST_LOCK_PAUSE);
  const once = Object.entries(states)
    .filter(([name]) => name !== "WaitForLock")
    .reduce((sum, [, state]) => sum + worstSeconds(state), 0);
  return once + lockLoop;
}
