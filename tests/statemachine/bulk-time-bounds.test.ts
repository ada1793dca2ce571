import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../functions/lib/config.ts";
import { loadMachine, type State, worstSeconds } from "../support/time-bounds.ts";

/*
 * A bulk run's end is bounded: its TimeoutSeconds covers a 10,000-account backfill at the
 * registrar's pace (Redis works one task at a time, so the backfill takes N x a task), plus every
 * retry of its own states; and the Map's concurrency never makes an onboarding wait at the
 * registrar longer than its hand-over's own timeout.
 */

const bulk = loadMachine("bulk-onboarding");
const onboarding = loadMachine("onboarding");

/** The largest backfill a bulk run lists (Step Functions' Distributed Map runs 10,000 at once). */
const ACCOUNTS = 10_000;
/** Redis's slowest task of the benchmark's fleets (bench/results.json): 120 s. */
const SLOWEST_TASK_SECONDS = 120;
/** Step Functions' longest Standard execution: one year. */
const ONE_YEAR = 365 * 24 * 3600;

describe("the bulk onboarding's time bounds", () => {
  it("gives every top-level Task state a timeout and bounded retries", () => {
    for (const [name, state] of Object.entries(bulk.States).filter(([, s]) => s.Type === "Task")) {
      expect(state.TimeoutSeconds, name).toBeGreaterThan(0);
      for (const retrier of state.Retry ?? []) expect(retrier.MaxAttempts ?? 3, name).toBeLessThanOrEqual(6);
    }
  });

  it("covers a 10,000-account backfill at Redis's slowest task, its own states' worst case on top, within Step Functions' year", () => {
    const backfill = ACCOUNTS * SLOWEST_TASK_SECONDS;
    const ownStates = Object.values(bulk.States)
      .filter((s) => s.Type === "Task")
      .reduce((sum, s) => sum + worstSeconds(s), 0);

    expect(bulk.TimeoutSeconds).toBeGreaterThanOrEqual(backfill + ownStates);
    // With a margin for the registrar's pauses between tasks (the benchmark's 0.1 to 1 %).
    expect(bulk.TimeoutSeconds).toBeGreaterThanOrEqual(backfill * 1.2);
    expect(bulk.TimeoutSeconds).toBeLessThanOrEqual(ONE_YEAR);
  });

  it("waits for each onboarding longer than the onboarding itself may run, so that the child ends first", () => {
    const map = bulk.States.OnboardEach as unknown as { ItemProcessor: { States: Record<string, State> } };
    const start = map.ItemProcessor.States.StartOnboarding as State;
    const child = onboarding;

    expect(start.TimeoutSeconds).toBeGreaterThan(child.TimeoutSeconds);
    expect(start.TimeoutSeconds).toBeLessThan(bulk.TimeoutSeconds);
  });

  it("caps the Map's concurrency so that no onboarding waits at the registrar longer than its hand-over allows", () => {
    const register = Object.values(onboarding.States).find((s) => s.Parameters?.Payload?.kind === "register");
    const handOver = register?.TimeoutSeconds ?? 0;
    // The n-th onboarding of a batch waits for the n - 1 before it, one Redis task each.
    const cap = SETTINGS.bulkConcurrency.schema.safeParse("1000");
    const over = SETTINGS.bulkConcurrency.schema.safeParse("1001");

    expect(cap.success).toBe(true);
    expect(over.success).toBe(false);
    expect(1000 * SLOWEST_TASK_SECONDS).toBeLessThanOrEqual(handOver);
  });
});
