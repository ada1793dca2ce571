import { StateMachine } from "aws-local-stepfunctions";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LOCK_TTL_SECONDS } from "../../functions/lib/lock.ts";
import type { Item } from "../../local/aws/dynamodb.ts";
import { HOME, LOCK_TABLE, type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import { resolveDefinition, type WorkflowResult } from "../../local/workflow.ts";

/*
 * The per-account lock, by behaviour: the definition's own DynamoDB writes against the in-memory
 * table, whole runs or one state at a time.
 */

const TARGET = "222222222222";
const OTHER = "console-run-by-hand";
const FUTURE = "2999-01-01T00:00:00.000Z";
const PAST = "2001-01-01T00:00:00.000Z";
let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const lockItem = (owner: string, expiresAtIso: string): Item => ({
  accountId: { S: TARGET },
  owner: { S: owner },
  expiresAt: { N: String(Math.ceil(Date.parse(expiresAtIso) / 1000)) },
  expiresAtIso: { S: expiresAtIso },
});
const holdLock = (owner: string, expiresAtIso = FUTURE) =>
  env.dynamodb.putItem({ TableName: LOCK_TABLE, Item: lockItem(owner, expiresAtIso) });
const lockOwner = () =>
  env.dynamodb.getItem({ TableName: LOCK_TABLE, Key: { accountId: { S: TARGET } } }).Item?.owner;
const entered = (result: WorkflowResult, state: string) =>
  result.events.filter((e) => e.type === "StateEntered" && e.state.name === state).length;

/**
 * Runs one state of the definition alone, as `execution`, at `now` ($$.State.EnteredTime), with the
 * environment's DynamoDB: what that state's Parameters write, and what it answers.
 */
async function runState(state: string, input: object, execution: string, now = new Date().toISOString()) {
  const {
    Next: _next,
    Catch: _catch,
    Retry: _retry,
    ...body
  } = resolveDefinition(HOME.accountId).States[state] as unknown as Record<string, unknown>;
  const service = env.services[String(body.Resource)];
  if (!service) throw new Error(`no stand-in for ${String(body.Resource)}`);
  const machine = new StateMachine({ StartAt: state, States: { [state]: { ...body, End: true } } } as never);
  return machine.run(input as never, {
    overrides: { taskResourceLocalHandlers: { [state]: async (p) => ((await service(p)) ?? {}) as never } },
    context: { Execution: { Name: execution }, State: { EnteredTime: now } } as never,
  }).result;
}

const acquiring = (execution: string, now?: string) =>
  runState(
    "AcquireAccountLock",
    {
      target: { accountId: TARGET },
      lock: { expiresAt: 4_102_444_800, expiresAtIso: "2100-01-01T00:00:00.000Z" },
    },
    execution,
    now,
  );
const releasing = (state: string, execution: string) =>
  runState(state, { target: { accountId: TARGET } }, execution);

describe("AcquireAccountLock", () => {
  it("takes a free lock for the execution, expiring at its start plus the lock's TTL", async () => {
    // Act: a whole run, whose lock is looked at while it is held.
    let held: Item | undefined;
    const start = Date.now();
    const result = await env.run(
      { accountId: TARGET },
      {
        executionName: "first",
        runs: {
          ...env.runs,
          ensureUser: async (event, runtime) => {
            held = env.dynamodb.items(LOCK_TABLE)[0];
            return env.runs.ensureUser?.(event, runtime);
          },
        },
      },
    );

    // Assess
    expect(result.status).toBe("SUCCEEDED");
    expect(held?.owner).toEqual({ S: "first" });
    const expiresMs = Date.parse((held?.expiresAtIso as { S: string } | undefined)?.S ?? "");
    expect(Math.abs(expiresMs - start - LOCK_TTL_SECONDS * 1000)).toBeLessThan(5000);
    expect(held?.expiresAt).toEqual({ N: String(Math.ceil(expiresMs / 1000)) });
    // Released at the end.
    expect(env.dynamodb.items(LOCK_TABLE)).toEqual([]);
  });

  it("takes the lock again when the same execution writes it again (a retried put)", async () => {
    await acquiring("first");

    await expect(acquiring("first")).resolves.toBeDefined();
    expect(lockOwner()).toEqual({ S: "first" });
  });

  it("is refused to another execution with DynamoDB.ConditionalCheckFailedException, naming nothing secret", async () => {
    await acquiring("first");

    const refusal = await acquiring(OTHER).then(
      () => undefined,
      (error: Error) => error,
    );

    expect((refusal?.cause as Error | undefined)?.name ?? refusal?.name).toMatch(
      /DynamoDB\.ConditionalCheckFailedException/,
    );
    expect(lockOwner()).toEqual({ S: "first" });
  });

  it("takes over the lock of an execution past its deadline", async () => {
    holdLock(OTHER, PAST);

    const result = await env.run({ accountId: TARGET }, { executionName: "late" });

    expect(result.status).toBe("SUCCEEDED");
    expect(entered(result, "WaitForLock")).toBe(0);
    expect(env.dynamodb.items(LOCK_TABLE)).toEqual([]);
  });

  it("is not taken over at its deadline to the millisecond, only after", async () => {
    holdLock(OTHER, "2030-05-01T12:00:00.000Z");

    await expect(acquiring("next", "2030-05-01T12:00:00.000Z")).rejects.toBeDefined();
    await expect(acquiring("next", "2030-05-01T12:00:00.001Z")).resolves.toBeDefined();
    expect(lockOwner()).toEqual({ S: "next" });
  });

  it("makes a second execution wait while the first holds it, then go on", async () => {
    holdLock(OTHER);
    let waits = 0;

    const result = await env.run(
      { accountId: TARGET },
      {
        executionName: "second",
        pauseMs: 1,
        onEvent: (event) => {
          // The holder ends after the third pause.
          if (event.type === "StateEntered" && event.state.name === "WaitForLock" && ++waits === 3)
            env.dynamodb.deleteItem({ TableName: LOCK_TABLE, Key: { accountId: { S: TARGET } } });
        },
      },
    );

    expect(result.status).toBe("SUCCEEDED");
    expect(entered(result, "WaitForLock")).toBeGreaterThanOrEqual(3);
    expect(entered(result, "AcquireAccountLock")).toBe(entered(result, "WaitForLock") + 1);
  });

  it("gives up after 200 pauses with OnboardingInProgress, reported, creating nothing and keeping the holder's lock", async () => {
    holdLock(OTHER);
    const before = env.aws.snapshot();

    const result = await env.run({ accountId: TARGET }, { executionName: "patient" });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("OnboardingInProgress");
    expect(result.error?.Cause).toContain(`account ${TARGET} is being onboarded by another execution`);
    expect(entered(result, "WaitForLock")).toBe(200);
    expect(entered(result, "AcquireAccountLock")).toBe(201);
    expect(entered(result, "RollBack") + entered(result, "ReleaseLockAfterFailure")).toBe(0);
    expect(lockOwner()).toEqual({ S: OTHER });
    expect(env.aws.snapshot()).toEqual(before);
    expect(JSON.stringify(env.published)).toContain("Redis Cloud Onboarding Failed");
    expect(JSON.stringify(env.published)).toContain("OnboardingInProgress");
  }, 30_000);

  it("retries a throttled write, then takes the lock", async () => {
    const put = env.services["arn:aws:states:::dynamodb:putItem"];
    let throttled = 0;
    const services = {
      ...env.services,
      "arn:aws:states:::dynamodb:putItem": async (parameters: Parameters<NonNullable<typeof put>>[0]) => {
        if (throttled++ < 2) {
          throw Object.assign(new Error("Rate exceeded"), {
            name: "DynamoDB.ProvisionedThroughputExceededException",
          });
        }
        return put?.(parameters);
      },
    };

    const result = await env.run({ accountId: TARGET }, { services });

    expect(result.status).toBe("SUCCEEDED");
    expect(
      result.events.filter((e) => e.type === "StateRetried" && e.state.name === "AcquireAccountLock"),
    ).toHaveLength(2);
  });

  it("fails for good, reported and not mistaken for a held lock, when the table does not exist", async () => {
    const services = {
      ...env.services,
      "arn:aws:states:::dynamodb:putItem": async () => {
        throw Object.assign(new Error("Requested resource not found"), {
          name: "DynamoDB.ResourceNotFoundException",
        });
      },
    };

    const result = await env.run({ accountId: TARGET }, { services });

    expect(result.error?.Error).toBe("DynamoDB.ResourceNotFoundException");
    expect(entered(result, "WaitForLock")).toBe(0);
    expect(entered(result, "ReleaseLockAfterFailure")).toBe(0);
    expect(JSON.stringify(env.published)).toContain("Redis Cloud Onboarding Failed");
  });
});

describe("ReleaseAccountLock and ReleaseLockAfterFailure", () => {
  it.each(["ReleaseAccountLock", "ReleaseLockAfterFailure"])(
    "%s frees the execution's lock",
    async (state) => {
      await acquiring("first");

      await releasing(state, "first");

      expect(lockOwner()).toBeUndefined();
      await expect(acquiring(OTHER)).resolves.toBeDefined();
    },
  );

  it.each(["ReleaseAccountLock", "ReleaseLockAfterFailure"])(
    "%s by a non-owner changes nothing",
    async (state) => {
      await acquiring("first");

      await releasing(state, OTHER).catch(() => undefined);

      expect(env.dynamodb.items(LOCK_TABLE)).toEqual([expect.objectContaining({ owner: { S: "first" } })]);
    },
  );

  it("lets the run end as it would, whether the lock was taken over or gone", async () => {
    // Taken over while the run worked (its holder was thought past its deadline).
    const takenOver = await env.run(
      { accountId: TARGET },
      {
        executionName: "slow",
        runs: {
          ...env.runs,
          ensureConsoleRole: async (event, runtime) => {
            env.dynamodb.putItem({ TableName: LOCK_TABLE, Item: lockItem(OTHER, FUTURE) });
            return env.runs.ensureConsoleRole?.(event, runtime);
          },
        },
      },
    );

    expect(takenOver.status).toBe("SUCCEEDED");
    expect(lockOwner()).toEqual({ S: OTHER });
  });
});
