import aslValidator from "asl-validator";
import { describe, expect, it } from "vitest";
import { TRANSIENT_ERRORS } from "../../functions/lib/errors.ts";
import { resolveDefinition, taskStates } from "../../local/workflow.ts";

const definition = resolveDefinition("123456789012");
const states = definition.States as unknown as Record<string, Record<string, unknown>>;

describe("statemachine/onboarding.asl.yml", () => {
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

  it("routes every failure of a step that may have created something to the withdrawal at Redis, then the rollback", () => {
    // Nothing exists yet before the lock is held; releasing it and rolling back change nothing to undo.
    const outside = [
      "ValidateInput",
      // Before the lock too: it only reads Organizations.
      "AuthorizeTarget",
      "AcquireAccountLock",
      "ReleaseAccountLock",
      "ReleaseLockAfterFailure",
      // The rollback's own two parts.
      "WithdrawRegistration",
      "RollBack",
      // After the rollback: it records the failure, and a failure of its own changes nothing.
      "RecordFailure",
      // A plan holds no lock and writes nothing: its failure ends the run, with nothing to undo.
      "PlanOnly",
    ];
    const handOver = "arn:aws:states:::lambda:invoke.waitForTaskToken";
    const steps = taskStates(definition).filter(
      (t) => (t.lambda || t.fn === handOver) && !outside.includes(t.state),
    );
    expect(steps.length).toBeGreaterThanOrEqual(9);
    // The registration is one of them: a failure at Redis may leave a cloud account to delete.
    expect(steps.map((t) => t.state)).toContain("RegisterCloudAccount");
    for (const { state } of steps) {
      const catchers = states[state]?.Catch as { ErrorEquals: string[]; Next: string }[] | undefined;
      expect(catchers?.find((c) => c.ErrorEquals.includes("States.ALL"))?.Next, state).toBe(
        "WithdrawRegistration",
      );
    }
    // The withdrawal goes on to the rollback whatever it did, its report (or its error) kept for it.
    const withdraw = states.WithdrawRegistration as {
      Resource: string;
      Parameters: { Payload: Record<string, unknown> };
      Catch: { ErrorEquals: string[]; Next: string; ResultPath: string }[];
      Next: string;
      ResultPath: string;
    };
    expect(withdraw.Resource).toBe(handOver);
    expect(withdraw.Parameters.Payload).toMatchObject({ kind: "withdraw", "taskToken.$": "$$.Task.Token" });
    expect(withdraw).toMatchObject({ Next: "RollBack", ResultPath: "$.atRedis" });
    expect(withdraw.Catch.map((c) => [c.ErrorEquals, c.Next, c.ResultPath])).toEqual([
      [["States.ALL"], "RollBack", "$.atRedis"],
    ]);
  });

  it("lets the rollback end the run with the original error, even when the rollback itself fails", () => {
    const rollback = states.RollBack as { Catch: { Next: string; ResultPath: string }[]; Next: string };
    // The registry records the failure on the way out, whatever the rollback did.
    expect(rollback.Next).toBe("RecordFailure");
    expect(rollback.Catch.map((c) => [c.Next, c.ResultPath])).toEqual([["RecordFailure", "$.rollback"]]);
    const recordFailure = states.RecordFailure as {
      Catch: { Next: string; ResultPath: unknown }[];
      Next: string;
    };
    expect(recordFailure.Next).toBe("ReleaseLockAfterFailure");
    expect(recordFailure.Catch.map((c) => [c.Next, c.ResultPath])).toEqual([
      ["ReleaseLockAfterFailure", null],
    ]);
    expect(states.ReleaseLockAfterFailure).toMatchObject({ Next: "PublishFailed", ResultPath: null });
    expect(states.OnboardingFailed).toMatchObject({
      Type: "Fail",
      ErrorPath: "$.error.Error",
      CausePath: "$.error.Cause",
    });
  });

  it("reports every failure: only PublishFailed leads to the Fail state, and nothing skips it", () => {
    const into = (name: string) =>
      Object.entries(states).filter(([, body]) => {
        const catchers = (body.Catch as { Next: string }[] | undefined) ?? [];
        const choices = (body.Choices as { Next: string }[] | undefined) ?? [];
        return [
          body.Next,
          body.Default,
          ...catchers.map((c) => c.Next),
          ...choices.map((c) => c.Next),
        ].includes(name);
      });
    expect(into("OnboardingFailed").map(([name]) => name)).toEqual(["PublishFailed"]);
    // The first state's failures and the lock's are caught too (nothing to undo, no lock to release).
    for (const state of ["ValidateInput", "AcquireAccountLock"]) {
      const catchers = states[state]?.Catch as { ErrorEquals: string[] }[];
      expect(
        catchers.flatMap((c) => c.ErrorEquals),
        state,
      ).toContain("States.ALL");
    }
    expect(
      into("PublishFailed")
        .map(([name]) => name)
        .sort(),
    ).toEqual(["InputRefused", "NothingToRollBack", "ReleaseLockAfterFailure"].sort());
  });

  it("waits for a held lock in a bounded loop, not a failure", () => {
    const acquire = states.AcquireAccountLock as { Catch: { ErrorEquals: string[]; Next: string }[] };
    expect(acquire.Catch[0]).toMatchObject({
      ErrorEquals: ["DynamoDB.ConditionalCheckFailedException"],
      Next: "CountLockWait",
    });
    expect(states.WaitForLock).toMatchObject({ Type: "Wait", Next: "AcquireAccountLock" });
    expect(states.MayWaitForLock).toMatchObject({
      Choices: [{ NumericGreaterThan: 200, Next: "LockStillHeld" }],
      Default: "WaitForLock",
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

  it("runs the five IAM steps with the user's first, its policy before it, so its key propagates meanwhile", () => {
    const order: string[] = [];
    let state: string | undefined = definition.StartAt;
    while (state && order.length < 50) {
      order.push(state);
      const current = states[state] as { Next?: string; Default?: string } | undefined;
      // A Choice's default is the run's way on (PlanOrRun's default is a real run, not a plan).
      state = current?.Next ?? current?.Default;
    }
    expect(order.filter((s) => s.startsWith("Ensure"))).toEqual([
      "EnsureUserPolicy",
      "EnsureUser",
      "EnsureInstancePolicy",
      "EnsureNodeRole",
      "EnsureConsoleRole",
    ]);
    expect(order[0]).toBe("ValidateInput");
    // The registry knows the run before anything is created, and its success before the lock goes.
    expect(order.indexOf("RecordStart")).toBe(order.indexOf("AcquireAccountLock") + 1);
    expect(order.indexOf("RecordStart")).toBeLessThan(order.indexOf("EnsureUserPolicy"));
    // Every foreign resource is found before the first write.
    expect(order.indexOf("CheckOwnership")).toBe(order.indexOf("EnsureUserPolicy") - 1);
    // Redis is handed the key once IAM has propagated it.
    expect(order.indexOf("RegisterCloudAccount")).toBe(order.indexOf("VerifyAccessKey") + 1);
    // An old key is retired only once Redis is active on the new one (the only success the
    // registrar answers a registration with), and before the success.
    const into = (target: string) =>
      Object.entries(states)
        .filter(([, body]) =>
          [
            body.Next,
            body.Default,
            ...((body.Catch as { Next: string }[] | undefined) ?? []).map((c) => c.Next),
            ...((body.Choices as { Next: string }[] | undefined) ?? []).map((c) => c.Next),
          ].includes(target),
        )
        .map(([name]) => name);
    expect(into("RetireOldKey")).toEqual(["RegisterCloudAccount"]);
    expect(states.RegisterCloudAccount).toMatchObject({ Next: "RetireOldKey", ResultPath: "$.registration" });
    expect(states.RetireOldKey).toMatchObject({ Next: "RecordSuccess" });
    expect(states.RecordSuccess).toMatchObject({ Next: "ReleaseAccountLock" });
  });

  it("sends a plan past the lock and the registry to the plan step, which ends the run", () => {
    expect(states.PlanOrRun).toMatchObject({
      Type: "Choice",
      Choices: [{ Variable: "$.target.plan", IsPresent: true, Next: "PlanOnly" }],
      Default: "StartLockWait",
    });
    expect(states.PlanOnly).toMatchObject({ Next: "Planned", ResultPath: "$.plan" });
    expect(states.Planned).toMatchObject({ Type: "Pass", End: true });
    expect((states.PlanOnly as { Catch: { Next: string }[] }).Catch.map((c) => c.Next)).toEqual([
      "PlanFailed",
    ]);
  });

  it("hands the rollback no list of changes and no registration: only the account, the execution and the withdrawal's report", () => {
    const parameters = (states.RollBack as { Parameters: Record<string, unknown> }).Parameters;
    expect(Object.keys(parameters).sort()).toEqual(["atRedis.$", "execution.$", "target.$"]);
    expect(parameters["target.$"]).toBe("$.target");
    expect(parameters["execution.$"]).toBe("$$.Execution.Name");
    // What WithdrawRegistration wrote (its report, or its error), not the run's steps or registration.
    expect(parameters["atRedis.$"]).toBe("$.atRedis");
    expect(JSON.stringify(parameters)).not.toMatch(/\$\.(steps|registration)/);
  });
});
