import aslValidator from "asl-validator";
import { describe, expect, it } from "vitest";
import { TRANSIENT_ERRORS } from "../../functions/lib/errors.ts";
import { resolveDefinition, taskStates } from "../../local/workflow.ts";

const definition = resolveDefinition("123456789012");
const states = definition.States as unknown as Record<string, Record<string, unknown>>;

describe("statemachine/onboarding.asl.json", () => {
  it("is valid Amazon States Language", () => {
    const { isValid, errorsText } = aslValidator(definition);
    expect(errorsText("\n")).toBe("");
    expect(isValid).toBe(true);
  });

  it("uses JSONPath only (a JSONata state would not run locally)", () => {
    expect(JSON.stringify(definition)).not.toMatch(/"QueryLanguage"\s*:\s*"JSONata"/);
  });

  it("retries Lambda's and AWS's transient errors in every Task, with backoff and full jitter", () => {
    for (const { state } of taskStates(definition).filter((t) => t.lambda)) {
      const retry = states[state]?.Retry as {
        ErrorEquals: string[];
        BackoffRate?: number;
        JitterStrategy?: string;
      }[];
      const names = retry.flatMap((r) => r.ErrorEquals);
      for (const name of [
        "Lambda.ServiceException",
        "Lambda.TooManyRequestsException",
        ...TRANSIENT_ERRORS.slice(0, 3),
      ]) {
        expect(names, `${state} retries ${name}`).toContain(name);
      }
      expect(retry.every((r) => (r.BackoffRate ?? 1) > 1 && r.JitterStrategy === "FULL")).toBe(true);
    }
  });

  it("routes every failure of a step that may have created something to the rollback", () => {
    // Nothing exists yet before the lock is held; releasing it and rolling back change nothing to undo.
    const outside = [
      "ValidateInput",
      "AcquireAccountLock",
      "ReleaseAccountLock",
      "ReleaseLockAfterFailure",
      "RollBack",
    ];
    const steps = taskStates(definition).filter((t) => t.lambda && !outside.includes(t.state));
    expect(steps.length).toBeGreaterThanOrEqual(8);
    for (const { state } of steps) {
      const catchers = states[state]?.Catch as { ErrorEquals: string[]; Next: string }[] | undefined;
      expect(catchers?.find((c) => c.ErrorEquals.includes("States.ALL"))?.Next, state).toBe("RollBack");
    }
  });

  it("lets the rollback end the run with the original error, even when the rollback itself fails", () => {
    const rollback = states.RollBack as { Catch: { Next: string; ResultPath: string }[]; Next: string };
    expect(rollback.Next).toBe("ReleaseLockAfterFailure");
    expect(rollback.Catch.map((c) => [c.Next, c.ResultPath])).toEqual([
      ["ReleaseLockAfterFailure", "$.rollback"],
    ]);
    expect(states.ReleaseLockAfterFailure).toMatchObject({ Next: "PublishFailed", ResultPath: null });
    expect(states.OnboardingFailed).toMatchObject({
      Type: "Fail",
      ErrorPath: "$.error.Error",
      CausePath: "$.error.Cause",
    });
  });

  it("catches every permanent error of the IAM steps", () => {
    for (const { state } of taskStates(definition).filter((t) => t.state.startsWith("Ensure"))) {
      const catchers = states[state]?.Catch as { ErrorEquals: string[] }[] | undefined;
      expect(
        catchers?.flatMap((c) => c.ErrorEquals),
        state,
      ).toContain("States.ALL");
    }
  });

  it("runs the five IAM steps in Redis's order", () => {
    const order: string[] = [];
    let state: string | undefined = definition.StartAt;
    while (state && order.length < 50) {
      order.push(state);
      state = states[state]?.Next as string | undefined;
    }
    expect(order.filter((s) => s.startsWith("Ensure"))).toEqual([
      "EnsureInstancePolicy",
      "EnsureNodeRole",
      "EnsureUserPolicy",
      "EnsureUser",
      "EnsureConsoleRole",
    ]);
    expect(order[0]).toBe("ValidateInput");
  });
});
