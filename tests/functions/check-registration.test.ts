import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type CheckInput,
  CLOUD_ACCOUNT_TAG,
  checkRegistration,
  MAX_RATE_WAIT,
  MAX_WAIT,
  MIN_WAIT,
  parseCheckInput,
  type Registration,
  recordToken,
  waitSeconds,
} from "../../functions/check-registration.ts";
import {
  CREDENTIALS,
  type FakeAnswer,
  fakeRedisApi,
  leakedSecrets,
  redisInput,
  runningRegistry,
  SECRET_ARN,
  storeSecrets,
  task,
} from "../local/redis-cloud/fixtures.ts";
import { EXECUTION, rejectionOf, TARGET, writeCommands } from "../support/aws.ts";

const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({});

const input = (registration: Registration): CheckInput => ({ ...redisInput(), registration });
const account = (id: number, status: string) => ({
  id,
  name: "payments-prod",
  status,
  accessKeyId: CREDENTIALS.accessKeyId,
});
/** The middle of the jitter range: deterministic waits. */
const half = () => 0.5;

function check(registration: Registration, routes: Record<string, FakeAnswer | FakeAnswer[]>, random = half) {
  const api = fakeRedisApi(routes);
  return { api, result: checkRegistration(input(registration), { ...deps(api), random }) };
}

let registry: Awaited<ReturnType<typeof runningRegistry>>;
const deps = (api: ReturnType<typeof fakeRedisApi>) => ({
  secrets,
  redis: api.redis,
  registry: registry.registry,
});
/** RegisterCloudAccount's record: this execution sent one POST. */
const REQUESTED = {
  name: "payments-prod",
  accessKeyId: CREDENTIALS.accessKeyId,
  execution: EXECUTION,
  requestedAt: "2026-01-01T00:00:00.000Z",
  requests: 1,
  origin: "created" as const,
};

beforeEach(async () => {
  registry = await runningRegistry();
  await registry.registry.recordRegistration(TARGET, REQUESTED);
  secretsMock.reset();
  storeSecrets(secretsMock);
  secretsMock.on(TagResourceCommand).resolves({});
  secretsMock.on(PutSecretValueCommand).resolves({ ARN: SECRET_ARN });
});

describe("checkRegistration while the task runs", () => {
  it("answers pending while a fresh task is still 404", async () => {
    // Act
    const { result } = check({ taskId: "t-1" }, { "GET /tasks/t-1": { status: 404 } });

    // Assess
    expect(await result).toEqual({ status: "pending", taskId: "t-1", attempt: 1, waitSeconds: 3 });
  });

  it.each(["initialized", "received", "processing-in-progress"])(
    "answers pending while the task is %s",
    async (status) => {
      // Act
      const { result, api } = check(
        { taskId: "t-1", attempt: 2 },
        { "GET /tasks/t-1": { body: task("t-1", status) } },
      );

      // Assess
      expect(await result).toMatchObject({ status: "pending", taskId: "t-1", attempt: 3 });
      expect(api.calls.map((c) => c.path)).toEqual(["/tasks/t-1"]);
    },
  );

  it("follows a completed task to its cloud account, still pending", async () => {
    // Act
    const { result } = check(
      { taskId: "t-1", attempt: 4 },
      {
        "GET /tasks/t-1": { body: task("t-1", "processing-completed", { resourceId: 42 }) },
        "GET /cloud-accounts/42": { body: account(42, "pending") },
      },
    );

    // Assess: the registry learns the id at once, as this run's (the rollback reads it there).
    expect(await result).toMatchObject({ status: "pending", taskId: "t-1", cloudAccountId: 42, attempt: 5 });
    expect(registry.stored()?.registration).toEqual({
      ...REQUESTED,
      taskId: "t-1",
      cloudAccountId: 42,
      origin: "created",
    });
  });

  it("answers pending when the new cloud account is not readable yet", async () => {
    // Act
    const { result } = check(
      { taskId: "t-1" },
      {
        "GET /tasks/t-1": { body: task("t-1", "processing-completed", { resourceId: 42 }) },
        "GET /cloud-accounts/42": { status: 404 },
      },
    );

    // Assess
    expect(await result).toMatchObject({ status: "pending", cloudAccountId: 42 });
  });

  it("throws CloudAccountInvalidCreds when Redis could not use the key yet (live error object)", async () => {
    // Act
    const { result } = check(
      { taskId: "t-9" },
      {
        "GET /tasks/t-9": {
          body: task("t-9", "processing-error", {
            error: {
              type: "CLOUD_ACCOUNT_INVALID_CREDS",
              status: "400 BAD_REQUEST",
              description: "Invalid creds",
            },
          }),
        },
      },
    );
    const error = await rejectionOf(result);

    // Assess
    expect(error.name).toBe("CloudAccountInvalidCreds");
    expect(error.message).toContain("task t-9");
  });

  it("reads the spec's string error too", async () => {
    // Act
    const { result } = check(
      { taskId: "t-9" },
      {
        "GET /tasks/t-9": { body: task("t-9", "processing-error", { error: "CLOUD_ACCOUNT_INVALID_CREDS" }) },
      },
    );

    // Assess
    expect((await rejectionOf(result)).name).toBe("CloudAccountInvalidCreds");
  });

  it("throws RedisTaskFailed with the task id, the error type and its description for any other failure", async () => {
    // Act
    const { result } = check(
      { taskId: "5f0c5e54-aaaa" },
      {
        "GET /tasks/5f0c5e54-aaaa": {
          body: task("5f0c5e54-aaaa", "processing-error", {
            error: { type: "CLOUD_ACCOUNT_PERMISSION_FAILED", description: "Missing ec2:RunInstances" },
          }),
        },
      },
    );
    const error = await rejectionOf(result);

    // Assess
    expect(error.name).toBe("RedisTaskFailed");
    expect(error.message).toContain("task 5f0c5e54-aaaa");
    expect(error.message).toContain("CLOUD_ACCOUNT_PERMISSION_FAILED: Missing ec2:RunInstances");
  });

  it("follows the winner's cloud account when a concurrent run registered the key first", async () => {
    // Act
    const { result } = check(
      { taskId: "t-2", reused: false },
      {
        "GET /tasks/t-2": {
          body: task("t-2", "processing-error", { error: { type: "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS" } }),
        },
        "GET /cloud-accounts": { body: { cloudAccounts: [account(77, "pending")] } },
        "GET /cloud-accounts/77": { body: account(77, "pending") },
      },
    );

    // Assess: our only POST was refused: the winner is recorded as found, never to be deleted.
    expect(await result).toMatchObject({ status: "pending", cloudAccountId: 77, reused: true });
    expect(registry.stored()?.registration).toMatchObject({ cloudAccountId: 77, origin: "found" });
  });

  it("takes the account of an earlier POST of this execution (its answer lost) as this run's", async () => {
    // Prepare: RegisterCloudAccount sent twice; the first one's answer was lost, its task made 77.
    await registry.registry.recordRegistration(TARGET, { ...REQUESTED, requests: 2 });

    // Act
    const { result } = check(
      { taskId: "t-2", reused: false },
      {
        "GET /tasks/t-2": {
          body: task("t-2", "processing-error", { error: { type: "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS" } }),
        },
        "GET /cloud-accounts": {
          body: { cloudAccounts: [{ ...account(77, "pending"), accessKeyId: "A***2" }] },
        },
        "GET /cloud-accounts/77": { body: account(77, "pending") },
      },
    );

    // Assess
    expect(await result).toMatchObject({ status: "pending", cloudAccountId: 77, reused: false });
    expect(registry.stored()?.registration).toMatchObject({ cloudAccountId: 77, origin: "created" });
  });

  it("lets a failing API through as RedisCloudUnavailable for the state machine to retry", async () => {
    // Act
    const { result } = check({ taskId: "t-1" }, { "GET /tasks/t-1": { status: 502 } });

    // Assess
    expect((await rejectionOf(result)).name).toBe("RedisCloudUnavailable");
  });

  it("gives up after the last attempt, naming the task and its status", async () => {
    // Prepare
    const api = fakeRedisApi({ "GET /tasks/t-1": { body: task("t-1", "received") } });

    // Act
    const error = await rejectionOf(
      checkRegistration(input({ taskId: "t-1", attempt: 9 }), { ...deps(api), maxAttempts: 10 }),
    );

    // Assess
    expect(error.name).toBe("RedisTaskFailed");
    expect(error.message).toContain("task t-1 is still received after 10 checks");
  });
});

describe("checkRegistration of the cloud account", () => {
  it("answers active and records the id in the secret's value and tag", async () => {
    // Act
    const { result } = check(
      { cloudAccountId: 42, reused: false, attempt: 3 },
      { "GET /cloud-accounts/42": { body: account(42, "active") } },
    );

    // Assess
    expect(await result).toEqual({
      status: "active",
      cloudAccountId: 42,
      reused: false,
      attempt: 4,
      waitSeconds: 0,
    });
    expect(writeCommands(secretsMock)).toEqual(["TagResourceCommand", "PutSecretValueCommand"]);
    expect(secretsMock).toHaveReceivedCommandWith(TagResourceCommand, {
      SecretId: SECRET_ARN,
      Tags: [{ Key: CLOUD_ACCOUNT_TAG, Value: "42" }],
    });
    const put = secretsMock.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(JSON.parse(put?.SecretString ?? "{}")).toEqual({ ...CREDENTIALS, cloudAccountId: 42 });
    expect(put?.ClientRequestToken).toBe(recordToken(SECRET_ARN, EXECUTION, CREDENTIALS.accessKeyId, 42));
  });

  it("records the tag it puts on a secret this run adopted, before putting it, so that a rollback takes it off", async () => {
    // Prepare: this run adopted the secret (a foreign one at the product's name).
    await registry.registry.recordAdoption(TARGET, EXECUTION, { type: "Secret", arn: SECRET_ARN }, "{}");

    // Act
    const { result } = check(
      { cloudAccountId: 42, reused: false },
      { "GET /cloud-accounts/42": { body: account(42, "active") } },
    );

    // Assess
    expect((await result).status).toBe("active");
    expect(registry.stored()?.resources.map((e) => [e.origin, e.change])).toContainEqual([
      "modified",
      { type: "SecretTag", arn: SECRET_ARN, key: CLOUD_ACCOUNT_TAG },
    ]);
  });

  it("records no tag of a secret it made: the rollback deletes that secret whole", async () => {
    // Act
    await check(
      { cloudAccountId: 42, reused: false },
      { "GET /cloud-accounts/42": { body: account(42, "active") } },
    ).result;

    // Assess
    expect(registry.stored()?.resources.map((e) => e.change.type)).not.toContain("SecretTag");
  });

  it("goes straight to the cloud account RegisterCloudAccount reused", async () => {
    // Act
    const { result, api } = check(
      { cloudAccountId: 42, reused: true },
      { "GET /cloud-accounts/42": { body: account(42, "active") } },
    );

    // Assess
    expect(await result).toMatchObject({ status: "active", cloudAccountId: 42, reused: true });
    expect(api.calls.map((c) => c.path)).toEqual(["/cloud-accounts/42"]);
  });

  it("records nothing when the secret already names this cloud account", async () => {
    // Prepare
    storeSecrets(secretsMock, { ...CREDENTIALS, cloudAccountId: 42 });

    // Act
    const { result } = check(
      { cloudAccountId: 42 },
      { "GET /cloud-accounts/42": { body: account(42, "active") } },
    );

    // Assess
    expect((await result).status).toBe("active");
    expect(writeCommands(secretsMock)).toEqual([]);
    expect(secretsMock).toHaveReceivedCommand(GetSecretValueCommand);
  });

  it("keeps every field of the secret when recording, even fields it does not know", async () => {
    // Prepare
    storeSecrets(secretsMock, { ...CREDENTIALS, note: "kept" });

    // Act
    const { result } = check(
      { cloudAccountId: 42 },
      { "GET /cloud-accounts/42": { body: account(42, "active") } },
    );
    await result;

    // Assess
    const put = secretsMock.commandCalls(PutSecretValueCommand)[0]?.args[0].input;
    expect(JSON.parse(put?.SecretString ?? "{}")).toEqual({
      ...CREDENTIALS,
      note: "kept",
      cloudAccountId: 42,
    });
  });

  it("fails RedisCloudNotFound when a cloud account found by key is gone", async () => {
    // Act
    const { result } = check(
      { cloudAccountId: 42, reused: true },
      { "GET /cloud-accounts/42": { status: 404 } },
    );

    // Assess
    expect((await rejectionOf(result)).name).toBe("RedisCloudNotFound");
  });

  it.each(["draft", "pending"])("answers pending while the cloud account is %s", async (status) => {
    // Act
    const { result } = check(
      { cloudAccountId: 42 },
      { "GET /cloud-accounts/42": { body: account(42, status) } },
    );

    // Assess
    expect(await result).toMatchObject({ status: "pending", cloudAccountId: 42 });
    expect(writeCommands(secretsMock)).toEqual([]);
  });

  it("throws CloudAccountError naming the cloud account when it is active-error", async () => {
    // Act
    const { result } = check(
      { cloudAccountId: 42 },
      { "GET /cloud-accounts/42": { body: account(42, "active-error") } },
    );
    const error = await rejectionOf(result);

    // Assess
    expect(error.name).toBe("CloudAccountError");
    expect(error.message).toContain("cloud account 42");
    expect(writeCommands(secretsMock)).toEqual([]);
  });

  it("never returns or reports a secret", async () => {
    // Act
    const active = await check(
      { cloudAccountId: 42 },
      { "GET /cloud-accounts/42": { body: account(42, "active") } },
    ).result;
    const failed = await rejectionOf(
      check(
        { taskId: "t-3" },
        { "GET /tasks/t-3": { body: task("t-3", "processing-error", { error: "GENERAL_ERROR" }) } },
      ).result,
    );

    // Assess
    expect(failed.name).toBe("RedisTaskFailed");
    expect(leakedSecrets(`${JSON.stringify(active)} ${failed.message}`)).toEqual([]);
  });
});

describe("checkRegistration waits", () => {
  it("grows 5, 10, 20, 40 then stays at 60 seconds at the top of the jitter", () => {
    // Act
    const waits = [1, 2, 3, 4, 5, 6, 12].map((attempt) => waitSeconds(attempt, {}, () => 0.999));

    // Assess
    expect(waits).toEqual([5, 10, 20, 40, 60, 60, 60]);
  });

  it("stays within its floor and ceiling for any jitter", () => {
    // Prepare
    const randoms = [0, 0.001, 0.25, 0.5, 0.75, 0.999];

    // Act
    const waits = [1, 2, 3, 5, 8, 50].flatMap((attempt) =>
      randoms.map((r) => waitSeconds(attempt, {}, () => r)),
    );

    // Assess
    expect(Math.min(...waits)).toBe(MIN_WAIT);
    expect(Math.max(...waits)).toBe(MAX_WAIT);
    expect(waits.every(Number.isInteger)).toBe(true);
  });

  it("spreads concurrent checks over the range with full jitter", () => {
    // Act
    const waits = [0.1, 0.5, 0.9].map((r) => waitSeconds(5, {}, () => r));

    // Assess
    expect(waits).toEqual([6, 30, 54]);
  });

  it("waits for the next rate window when few requests remain", () => {
    // Act
    const plenty = waitSeconds(1, { remaining: 350 }, half);
    const few = waitSeconds(1, { remaining: 10 }, half);

    // Assess
    expect(plenty).toBe(3);
    expect(few).toBeGreaterThanOrEqual(30);
    expect(few).toBeLessThanOrEqual(60);
  });

  it("honours Retry-After, within the longest wait", () => {
    // Act
    const asked = waitSeconds(1, { retryAfterSeconds: 90 }, half);
    const tooLong = waitSeconds(1, { retryAfterSeconds: 3600 }, half);

    // Assess
    expect(asked).toBeGreaterThanOrEqual(90);
    expect(tooLong).toBe(MAX_RATE_WAIT);
  });

  it("lengthens the wait from the rate headers of the API's last answer", async () => {
    // Act
    const { result } = check(
      { taskId: "t-1" },
      { "GET /tasks/t-1": { body: task("t-1", "received"), headers: { "X-Rate-Limit-Remaining": "3" } } },
    );

    // Assess
    expect((await result).waitSeconds).toBeGreaterThanOrEqual(30);
  });

  it("treats a 429 as a reason to look later, after its Retry-After", async () => {
    // Act
    const { result } = check(
      { taskId: "t-1", attempt: 1 },
      { "GET /tasks/t-1": { status: 429, headers: { "Retry-After": "45", "X-Rate-Limit-Remaining": "0" } } },
    );

    // Assess
    expect(await result).toMatchObject({ status: "pending", taskId: "t-1", attempt: 2 });
    expect((await result).waitSeconds).toBeGreaterThanOrEqual(45);
  });
});

describe("parseCheckInput", () => {
  it("takes RegisterCloudAccount's output and drops the previous status", () => {
    // Act
    const parsed = parseCheckInput({
      ...redisInput(),
      registration: { status: "pending", taskId: "t-1", attempt: 3, waitSeconds: 20 },
    });

    // Assess
    expect(parsed.registration).toEqual({ taskId: "t-1", attempt: 3 });
  });

  it("refuses a registration with neither task nor cloud account", () => {
    // Act
    const parse = () => parseCheckInput({ ...redisInput(), registration: { reused: false } });

    // Assess
    expect(parse).toThrow(/registration: has neither taskId nor cloudAccountId/);
  });
});

describe("checkRegistration of an update (a new key for an existing cloud account)", () => {
  const UPDATE = { taskId: "t-upd", cloudAccountId: 17, reused: true, updated: true };
  const onKey = (accessKeyId: string) => ({ ...account(17, "active"), accessKeyId });

  it.each([
    ["404 while fresh", { status: 404 }],
    ["received", { body: { ...task("t-upd", "received"), commandType: "cloudAccountUpdateRequest" } }],
  ])(
    "answers pending while its task is %s, without reading the (already active) account",
    async (_case, answer) => {
      // Act
      const { result, api } = check(UPDATE, {
        "GET /tasks/t-upd": answer,
        "GET /cloud-accounts/17": { body: onKey("AKIAEXAMPLE000000111") },
      });

      // Assess
      expect(await result).toMatchObject({
        status: "pending",
        taskId: "t-upd",
        cloudAccountId: 17,
        updated: true,
      });
      expect(api.calls.map((c) => c.path)).toEqual(["/tasks/t-upd"]);
      expect(writeCommands(secretsMock)).toEqual([]);
    },
  );

  it("answers active once its task completed and the account holds the new key, read in full by id", async () => {
    // Act
    const { result, api } = check(UPDATE, {
      "GET /tasks/t-upd": { body: task("t-upd", "processing-completed", { resourceId: 17 }) },
      "GET /cloud-accounts/17": { body: onKey(CREDENTIALS.accessKeyId) },
    });

    // Assess
    expect(await result).toMatchObject({ status: "active", cloudAccountId: 17, reused: true, updated: true });
    expect(api.calls.map((c) => c.path)).toEqual(["/tasks/t-upd", "/cloud-accounts/17"]);
    expect(writeCommands(secretsMock)).toEqual(["TagResourceCommand", "PutSecretValueCommand"]);
  });

  it("fails CloudAccountError when the account is still on another key after its task completed", async () => {
    // Act
    const { result } = check(UPDATE, {
      "GET /tasks/t-upd": { body: task("t-upd", "processing-completed", { resourceId: 17 }) },
      "GET /cloud-accounts/17": { body: onKey("AKIAEXAMPLE000000111") },
    });
    const error = await rejectionOf(result);

    // Assess
    expect(error.name).toBe("CloudAccountError");
    expect(error.message).toContain("AKIAEXAMPLE000000111");
    expect(writeCommands(secretsMock)).toEqual([]);
  });

  it("fails RedisTaskFailed naming the task when Redis fails the update", async () => {
    // Act
    const { result } = check(UPDATE, {
      "GET /tasks/t-upd": {
        body: task("t-upd", "processing-error", {
          error: { type: "CLOUD_ACCOUNT_ACCESS_KEY_EXISTS", description: "exists" },
        }),
      },
    });
    const error = await rejectionOf(result);

    // Assess
    expect(error.name).toBe("RedisTaskFailed");
    expect(error.message).toContain("t-upd");
    expect(error.message).toContain("CLOUD_ACCOUNT_ACCESS_KEY_EXISTS");
  });

  it("fails CloudAccountInvalidCreds, as a create does, when Redis could not use the new key yet", async () => {
    // Act
    const { result } = check(UPDATE, {
      "GET /tasks/t-upd": {
        body: task("t-upd", "processing-error", { error: { type: "CLOUD_ACCOUNT_INVALID_CREDS" } }),
      },
    });

    // Assess
    expect((await rejectionOf(result)).name).toBe("CloudAccountInvalidCreds");
  });

  it("checks the key only, without a task to follow (its id was lost), and records nothing in the registry", async () => {
    // Prepare
    const before = registry.stored();

    // Act
    const { result, api } = check(
      { cloudAccountId: 17, reused: true, updated: true },
      { "GET /cloud-accounts/17": { body: onKey(CREDENTIALS.accessKeyId) } },
    );

    // Assess
    expect(await result).toMatchObject({ status: "active", cloudAccountId: 17 });
    expect(api.calls.map((c) => c.path)).toEqual(["/cloud-accounts/17"]);
    expect(registry.stored()).toEqual(before);
  });
});
