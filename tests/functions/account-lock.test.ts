import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  ThrottlingException,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  acquireLockRun,
  handler,
  LOCK_TTL_MS,
  loadLockTableName,
  lockStoreFromEnv,
  releaseHandler,
  releaseLockRun,
} from "../../functions/account-lock.ts";
import { sdkClients } from "../../functions/lib/aws.ts";
import { loadConfig } from "../../functions/lib/config.ts";
import { createRuntime } from "../../functions/lib/define-step.ts";
import { isTransientName, WorkflowError } from "../../functions/lib/errors.ts";
import { MemoryLockStore } from "../../functions/lib/lock-store.ts";
import { EXECUTION, HOME, lambdaContext, rejectionOf, stepInput, TARGET } from "../support/aws.ts";

const TABLE = "onboarding-test-locks";
const OTHER = "console-run-by-hand";
const NOW_MS = Date.UTC(2025, 0, 15, 12, 0, 0);
const runtime = createRuntime(HOME, sdkClients(), loadConfig({}));
const dynamo = mockClient(DynamoDBClient);
const meta = { $metadata: { httpStatusCode: 400, requestId: "req-0001" } };

beforeEach(() => {
  dynamo.reset();
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.useRealTimers();
});

describe("acquireLockRun", () => {
  let store: MemoryLockStore;
  beforeEach(() => {
    store = new MemoryLockStore();
  });

  it("takes a free lock for the execution", async () => {
    // Act
    const result = await acquireLockRun(store).run(stepInput(), runtime);

    // Assess
    expect(result).toEqual({ lockedBy: EXECUTION, accountId: TARGET });
    expect(await store.acquire(TARGET, OTHER, Date.now(), LOCK_TTL_MS)).toEqual({
      acquired: false,
      heldBy: EXECUTION,
    });
  });

  it("takes the lock again when the same execution retries the step", async () => {
    // Prepare
    const acquire = acquireLockRun(store).run;
    await acquire(stepInput(), runtime);

    // Assess
    await expect(acquire(stepInput(), runtime)).resolves.toEqual({ lockedBy: EXECUTION, accountId: TARGET });
  });

  it("refuses another execution with a transient OnboardingInProgress naming the holder and the account", async () => {
    // Prepare
    const acquire = acquireLockRun(store).run;
    await acquire(stepInput(), runtime);

    // Act
    const error = await rejectionOf(acquire(stepInput(OTHER), runtime));

    // Assess
    expect(error).toBeInstanceOf(WorkflowError);
    expect(error.name).toBe("OnboardingInProgress");
    expect(isTransientName(error.name)).toBe(true);
    expect(error.message).toContain(`execution ${EXECUTION}`);
    expect(error.message).toContain(`account ${TARGET}`);
  });

  it("takes over the lock of an execution that died two hours ago", async () => {
    // Prepare
    await store.acquire(TARGET, OTHER, Date.now() - LOCK_TTL_MS - 1000, LOCK_TTL_MS);

    // Assess
    await expect(acquireLockRun(store).run(stepInput(), runtime)).resolves.toEqual({
      lockedBy: EXECUTION,
      accountId: TARGET,
    });
  });

  it("refuses an input without a target before touching the lock", async () => {
    // Act
    const error = await rejectionOf(acquireLockRun(store).run({ execution: EXECUTION }, runtime));

    // Assess
    expect(error.name).toBe("InvalidInput");
    expect(await store.acquire(TARGET, OTHER, Date.now(), LOCK_TTL_MS)).toEqual({ acquired: true });
  });
});

describe("releaseLockRun", () => {
  let store: MemoryLockStore;
  beforeEach(async () => {
    store = new MemoryLockStore();
    await acquireLockRun(store).run(stepInput(), runtime);
  });

  it("frees the execution's lock for the next one", async () => {
    // Act
    const result = await releaseLockRun(store).run(stepInput(), runtime);

    // Assess
    expect(result).toEqual({ released: true });
    await expect(acquireLockRun(store).run(stepInput(OTHER), runtime)).resolves.toMatchObject({
      lockedBy: OTHER,
    });
  });

  it("leaves another execution's lock in place", async () => {
    // Act
    const result = await releaseLockRun(store).run(stepInput(OTHER), runtime);

    // Assess
    expect(result).toEqual({ released: true });
    expect((await rejectionOf(acquireLockRun(store).run(stepInput(OTHER), runtime))).name).toBe(
      "OnboardingInProgress",
    );
  });

  it("answers the same when run again", async () => {
    // Prepare
    const release = releaseLockRun(store).run;
    await release(stepInput(), runtime);

    // Assess
    await expect(release(stepInput(), runtime)).resolves.toEqual({ released: true });
  });
});

describe("the lock under 200 onboardings of one account at once", () => {
  it("lets exactly one of them in", async () => {
    // Prepare
    const acquire = acquireLockRun(new MemoryLockStore()).run;

    // Act
    const outcomes = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => acquire(stepInput(`run-${i}`), runtime)),
    );

    // Assess
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    const refusals = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as Error] : []));
    expect(refusals).toHaveLength(199);
    expect(refusals.every((error) => error.name === "OnboardingInProgress")).toBe(true);
  });

  it("runs them one after another when each retries until it gets the lock", async () => {
    // Prepare: each run retries a refusal, as the state machine does, and works while it holds
    // the lock over several turns of the event loop, where a race would show.
    const store = new MemoryLockStore();
    const acquire = acquireLockRun(store).run;
    const release = releaseLockRun(store).run;
    const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
    let inside = 0;
    let mostInside = 0;
    const onboard = async (execution: string) => {
      for (;;) {
        const held = await acquire(stepInput(execution), runtime).catch((error: Error) => {
          if (error.name !== "OnboardingInProgress") throw error;
          return undefined;
        });
        if (held) break;
        await tick();
      }
      inside += 1;
      mostInside = Math.max(mostInside, inside);
      await tick();
      await tick();
      inside -= 1;
      await release(stepInput(execution), runtime);
    };

    // Act
    const outcomes = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => onboard(`run-${i}`)));

    // Assess
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(200);
    expect(mostInside).toBe(1);
  });
});

describe("LOCK_TABLE_NAME", () => {
  it.each([
    ["missing", {}, /is required/],
    ["blank", { LOCK_TABLE_NAME: "  " }, /is required/],
    ["not a table name", { LOCK_TABLE_NAME: "locks table!" }, /must be a DynamoDB table name/],
    ["too short", { LOCK_TABLE_NAME: "ab" }, /must be a DynamoDB table name/],
  ])("fails by name when %s", (_case, env, problem) => {
    // Act
    const failure = () => loadLockTableName(env);

    // Assess
    expect(failure).toThrow(WorkflowError);
    expect(failure).toThrow(/^setting LOCK_TABLE_NAME: /);
    expect(failure).toThrow(problem);
  });

  it("reads the name, trimmed", () => {
    // Assess
    expect(loadLockTableName({ LOCK_TABLE_NAME: ` ${TABLE} ` })).toBe(TABLE);
  });

  it("is read at the first invocation and fails it with ConfigurationError", async () => {
    // Prepare
    vi.stubEnv("LOCK_TABLE_NAME", undefined);
    const acquire = acquireLockRun().run;

    // Act
    const error = await rejectionOf(acquire(stepInput(), runtime));

    // Assess
    expect(error.name).toBe("ConfigurationError");
    expect(error.message).toContain("LOCK_TABLE_NAME");
    expect(dynamo.calls()).toHaveLength(0);
  });

  it("is read again after a failed first invocation, once it is fixed", async () => {
    // Prepare
    const env: Record<string, string> = {};
    const store = lockStoreFromEnv(env);
    expect(store).toThrow(/LOCK_TABLE_NAME/);
    env.LOCK_TABLE_NAME = TABLE;
    dynamo.on(DeleteItemCommand).resolves({});

    // Act
    await store().release(TARGET, EXECUTION);

    // Assess
    expect(dynamo.commandCalls(DeleteItemCommand)[0]?.args[0].input.TableName).toBe(TABLE);
  });
});

describe("the Lambda handlers", () => {
  beforeEach(() => {
    vi.stubEnv("LOCK_TABLE_NAME", TABLE);
  });

  it("acquires in DynamoDB with the execution as owner and a five-hour expiry in seconds", async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(NOW_MS);
    dynamo.on(PutItemCommand).resolves({});

    // Act
    const result = await handler(stepInput(), lambdaContext(HOME.accountId));

    // Assess
    expect(result).toEqual({ lockedBy: EXECUTION, accountId: TARGET });
    expect(dynamo.commandCalls(PutItemCommand)[0]?.args[0].input).toMatchObject({
      TableName: TABLE,
      Item: {
        accountId: { S: TARGET },
        owner: { S: EXECUTION },
        expiresAt: { N: String(NOW_MS / 1000 + 5 * 60 * 60) },
      },
      ExpressionAttributeValues: { ":owner": { S: EXECUTION }, ":now": { N: String(NOW_MS / 1000) } },
    });
  });

  it("fails with OnboardingInProgress naming the execution DynamoDB says holds the lock", async () => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(
      new ConditionalCheckFailedException({
        message: "The conditional request failed",
        Item: { accountId: { S: TARGET }, owner: { S: OTHER }, expiresAt: { N: "1736949600" } },
        ...meta,
      }),
    );

    // Act
    const error = await rejectionOf(handler(stepInput(), lambdaContext(HOME.accountId)));

    // Assess
    expect(error.name).toBe("OnboardingInProgress");
    expect(error.message).toContain(`execution ${OTHER}`);
  });

  it("fails with the transient Throttling when DynamoDB throttles", async () => {
    // Prepare
    dynamo.on(PutItemCommand).rejects(new ThrottlingException({ message: "Rate exceeded", ...meta }));

    // Act
    const error = await rejectionOf(handler(stepInput(), lambdaContext(HOME.accountId)));

    // Assess
    expect(error.name).toBe("Throttling");
  });

  it("releases with a DeleteItem conditioned on the execution", async () => {
    // Prepare
    dynamo.on(DeleteItemCommand).resolves({});

    // Act
    const result = await releaseHandler(stepInput(), lambdaContext(HOME.accountId));

    // Assess
    expect(result).toEqual({ released: true });
    expect(dynamo.commandCalls(DeleteItemCommand)[0]?.args[0].input).toMatchObject({
      TableName: TABLE,
      Key: { accountId: { S: TARGET } },
      ExpressionAttributeValues: { ":owner": { S: EXECUTION } },
    });
  });

  it("answers released when the lock was already taken over", async () => {
    // Prepare
    dynamo
      .on(DeleteItemCommand)
      .rejects(new ConditionalCheckFailedException({ message: "The conditional request failed", ...meta }));

    // Assess
    await expect(releaseHandler(stepInput(), lambdaContext(HOME.accountId))).resolves.toEqual({
      released: true,
    });
  });
});
