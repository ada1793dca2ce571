import { invalidInput } from "./errors.ts";

/**
 * The state machine's own limit: TimeoutSeconds of statemachine/onboarding.asl.yml (a test keeps
 * the two equal). No execution holds the account lock longer than this after it started.
 */
export const STATE_MACHINE_TIMEOUT_SECONDS = 432_000;

/** Slack past that limit, for a stop that Step Functions records a little late. */
export const LOCK_MARGIN_SECONDS = 30 * 60;

/** How long after its execution started a lock may be taken over (5 days and the margin). */
export const LOCK_TTL_SECONDS = STATE_MACHINE_TIMEOUT_SECONDS + LOCK_MARGIN_SECONDS;

/**
 * When the account lock of an execution expires, in the two forms the lock item keeps.
 * JSONPath ASL cannot compute a time, so the first state computes it once for the whole run.
 */
export interface LockExpiry {
  /** Epoch seconds, for the table's TTL attribute (DynamoDB's cleanup only). */
  expiresAt: number;
  /** ISO-8601 UTC to the millisecond, the format of `$$.State.EnteredTime` that the put compares it with. */
  expiresAtIso: string;
}

/**
 * The expiry of a lock held by the execution that started at `startTime` (`$$.Execution.StartTime`).
 * The TTL is rounded up so that DynamoDB never cleans an item up before the lock has expired.
 */
export function lockExpiry(startTime: unknown): LockExpiry {
  const startMs = typeof startTime === "string" ? Date.parse(startTime) : Number.NaN;
  if (Number.isNaN(startMs)) {
    throw invalidInput("startTime", "must be the execution's start time, an ISO-8601 date");
  }
  const expiresMs = startMs + LOCK_TTL_SECONDS * 1000;
  return { expiresAt: Math.ceil(expiresMs / 1000), expiresAtIso: new Date(expiresMs).toISOString() };
}
