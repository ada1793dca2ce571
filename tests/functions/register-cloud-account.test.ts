import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { WorkflowError } from "../../functions/lib/errors.ts";
import { RedisCloud } from "../../functions/lib/redis-cloud.ts";
import type { Registry } from "../../functions/lib/registry.ts";
import { handler, registerCloudAccount } from "../../functions/register-cloud-account.ts";
import {
  API_KEYS,
  CREATE_REQUEST,
  CREDENTIALS,
  fakeRedisApi,
  leakedSecrets,
  OLD_KEY,
  redisInput,
  runningRegistry,
  SECRET_ARN,
  storeSecrets,
  task,
  UPDATE_REQUEST,
  updateRecord,
} from "../local/redis-cloud/fixtures.ts";
import { EXECUTION, HOME, lambdaContext, rejectionOf, stepInput, TARGET } from "../support/aws.ts";

const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({});

const ours = {
  id: 17,
  name: "payments-prod",
  provider: "AWS",
  status: "active",
  accessKeyId: CREDENTIALS.accessKeyId,
};
const theirs = {
  id: 5,
  name: "legacy",
  provider: "AWS",
  status: "active",
  accessKeyId: "AKIAOTHER00000000005",
};

let registry: Awaited<ReturnType<typeof runningRegistry>>;
const deps = (redis: RedisCloud) => ({ secrets, redis, registry: registry.registry });
const registration = () => registry.stored()?.registration;

/** The registry, refusing for good every write of a registration's task id (a PutItem denied). */
function refusingTaskIds(store: Registry) {
  return {
    get: store.get.bind(store),
    recordRegistration: async (...args: Parameters<Registry["recordRegistration"]>) => {
      if (args[1].taskId !== undefined) throw new WorkflowError("AccessDenied", "Test: PutItem denied");
      return store.recordRegistration(...args);
    },
  };
}

/** An earlier run (run-1) onboarded the account as cloud account 17 on `accessKeyId`; this run is running. */
async function onboardedEarlier(accessKeyId: string) {
  registry = await runningRegistry("run-1");
  const { registry: store } = registry;
  await store.recordRegistration(TARGET, {
    name: "payments-prod",
    accessKeyId,
    execution: "run-1",
    requestedAt: "2026-01-01T00:00:00.000Z",
    taskId: "t-old",
    cloudAccountId: 17,
    origin: "created",
  });
  await store.finish(TARGET, "run-1", {
    status: "active",
    cloudAccountId: 17,
    accessKeyId,
    secretArn: SECRET_ARN,
  });
  await store.beginRun(TARGET, { execution: EXECUTION });
}

beforeEach(async () => {
  secretsMock.reset();
  storeSecrets(secretsMock);
  registry = await runningRegistry();
});

describe("registerCloudAccount", () => {
  it("reuses the cloud account that already holds the access key, without creating one", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [theirs, ours] } },
      "GET /cloud-accounts/17": { body: ours },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess: the listing's candidate of our name is read by id, for its full key.
    expect(result).toEqual({ cloudAccountId: 17, reused: true });
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /cloud-accounts",
      "GET /cloud-accounts/17",
    ]);
    expect(registration()).toMatchObject({ cloudAccountId: 17, origin: "found", execution: EXECUTION });
  });

  it("creates the cloud account from the secret's credentials when none holds the key", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [theirs] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ taskId: "t-new", reused: false });
    expect(api.calls[1]?.body).toEqual(CREATE_REQUEST);
    expect(registration()).toEqual({
      name: "payments-prod",
      accessKeyId: CREDENTIALS.accessKeyId,
      execution: EXECUTION,
      requestedAt: expect.any(String),
      requests: 1,
      taskId: "t-new",
      origin: "created",
    });
  });

  it("names the cloud account aws-<accountId> when the input has no name", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
    });
    const input = { ...redisInput(), target: { ...stepInput().target, accountName: "" } };

    // Act
    await registerCloudAccount(input, deps(api.redis));

    // Assess
    expect(api.calls[1]?.body).toMatchObject({ name: `aws-${TARGET}` });
  });

  it.each([
    ["CLOUD_ACCOUNT_ACCESS_KEY_EXISTS", 409],
    ["CLOUD_ACCOUNT_NAME_EXISTS", 400],
  ])("reuses the winner of a race refused with %s when it holds our key", async (type, status) => {
    // Prepare: listed empty, then a concurrent run registers before our POST.
    const api = fakeRedisApi({
      "GET /cloud-accounts": [{ body: { cloudAccounts: [] } }, { body: { cloudAccounts: [ours] } }],
      "POST /cloud-accounts": { status, body: { type, status: `${status}`, description: "exists" } },
      "GET /cloud-accounts/17": { body: ours },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess: our only POST was refused, so the winner is not this run's.
    expect(result).toEqual({ cloudAccountId: 17, reused: true });
    expect(api.calls.map((c) => c.method)).toEqual(["GET", "POST", "GET", "GET"]);
    expect(registration()).toMatchObject({ cloudAccountId: 17, origin: "found" });
  });

  it("re-lists on a bare 409 too, and reuses the account holding our key", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": [{ body: { cloudAccounts: [] } }, { body: { cloudAccounts: [ours] } }],
      "POST /cloud-accounts": { status: 409 },
      "GET /cloud-accounts/17": { body: ours },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ cloudAccountId: 17, reused: true });
  });

  it("fails RedisCloudConflict naming the account name when the name belongs to another key", async () => {
    // Prepare
    const sameName = { ...theirs, name: "payments-prod" };
    const api = fakeRedisApi({
      "GET /cloud-accounts": [{ body: { cloudAccounts: [] } }, { body: { cloudAccounts: [sameName] } }],
      "POST /cloud-accounts": {
        status: 409,
        body: { type: "CLOUD_ACCOUNT_NAME_EXISTS", description: "exists" },
      },
      "GET /cloud-accounts/5": { body: sameName },
    });

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), deps(api.redis)));

    // Assess
    expect(error.name).toBe("RedisCloudConflict");
    expect(error.message).toContain('"payments-prod"');
    expect(error.message).toContain("cloud account 5");
  });

  it("lets any other refusal through with its own name", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
      "POST /cloud-accounts": { status: 422, body: { type: "BAD_REQUEST", description: "signInLoginUrl" } },
    });

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), deps(api.redis)));

    // Assess
    expect(error.name).toBe("RedisCloudRejected");
    expect(api.calls).toHaveLength(2);
  });

  it("refuses the credentials of another account", async () => {
    // Prepare
    storeSecrets(secretsMock, { ...CREDENTIALS, accountId: "333333333333" });
    const api = fakeRedisApi();

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), deps(api.redis)));

    // Assess
    expect(error.name).toBe("UnexpectedError");
    expect(error.message).toContain("account 333333333333, not 222222222222");
    expect(api.calls).toEqual([]);
  });

  it("refuses a secret without the console password, naming the field only", async () => {
    // Prepare
    const { consolePassword: _dropped, ...withoutPassword } = CREDENTIALS;
    storeSecrets(secretsMock, withoutPassword);

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), deps(fakeRedisApi().redis)));

    // Assess
    expect(error.message).toContain(`secret ${SECRET_ARN} lacks consolePassword`);
    expect(leakedSecrets(error.message)).toEqual([]);
  });

  it("never returns a secret", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(Object.keys(result).sort()).toEqual(["reused", "taskId"]);
    expect(leakedSecrets(JSON.stringify(result))).toEqual([]);
  });
});

/** The fake's client, with POSTs carried out by the fake but their answer lost on the way back. */
function losingPosts(api: ReturnType<typeof fakeRedisApi>, beforePost: () => void = () => {}) {
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    if (init?.method !== "POST") return api.fetch(url, init);
    beforePost();
    await api.fetch(url, init);
    throw new TypeError("fetch failed", {
      cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
    });
  }) as typeof fetch;
  return new RedisCloud({ baseUrl: "https://api.redis.test/v1", keys: API_KEYS, fetch: fetchImpl });
}

describe("registerCloudAccount and the registry", () => {
  it("records the request (name, key id, execution) before the POST, and never a secret", async () => {
    // Prepare
    const api = fakeRedisApi({ "GET /cloud-accounts": { body: { cloudAccounts: [] } } });
    let atPost: unknown;
    const redis = losingPosts(api, () => {
      atPost = registration();
    });

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), deps(redis)));

    // Assess
    expect(error.name).toBe("RedisCloudUnavailable");
    expect(atPost).toEqual({
      name: "payments-prod",
      accessKeyId: CREDENTIALS.accessKeyId,
      execution: EXECUTION,
      requestedAt: expect.any(String),
      requests: 1,
      origin: "created",
    });
    expect(leakedSecrets(JSON.stringify(registry.stored()))).toEqual([]);
  });

  it("takes the cloud account of a POST whose answer was lost, found again by name and full key, as this run's", async () => {
    // Prepare: the first attempt's POST is carried out, its answer lost.
    const first = fakeRedisApi({ "GET /cloud-accounts": { body: { cloudAccounts: [] } } });
    await rejectionOf(registerCloudAccount(redisInput(), deps(losingPosts(first))));
    // Redis lists it with its key masked; read by id, the key is ours in full.
    const listed = { ...ours, accessKeyId: "A***2" };
    const retry = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [theirs, listed] } },
      "GET /cloud-accounts/17": { body: ours },
    });

    // Act: the state machine's retry of the step.
    const result = await registerCloudAccount(redisInput(), deps(retry.redis));

    // Assess: not reused; the registry says this run made it, so its rollback deletes it.
    expect(result).toEqual({ cloudAccountId: 17, reused: false });
    expect(retry.calls.map((c) => c.method)).not.toContain("POST");
    expect(registration()).toMatchObject({ cloudAccountId: 17, origin: "created", execution: EXECUTION });
  });

  it("never adopts a listed account of our name whose masked key matches but whose full key is another's", async () => {
    // Prepare: listed as A***2, as ours would be; read by id, another AWS account's key.
    const lookalike = { ...theirs, id: 9, name: "payments-prod", accessKeyId: "AKIAOTHER00000000222" };
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [{ ...lookalike, accessKeyId: "A***2" }] } },
      "GET /cloud-accounts/9": { body: lookalike },
      "POST /cloud-accounts": {
        status: 400,
        body: { type: "CLOUD_ACCOUNT_NAME_EXISTS", description: "exists" },
      },
    });

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), deps(api.redis)));

    // Assess: our own POST was tried, and its refusal names the holder instead of adopting it.
    expect(error.name).toBe("RedisCloudConflict");
    expect(error.message).toContain("cloud account 9");
    expect(api.calls.map((c) => c.method)).toContain("POST");
    expect(registration()?.cloudAccountId).toBeUndefined();
  });

  it("withdraws its request when the registry refuses the task id: it deletes what the task made, then fails", async () => {
    // Prepare: the registry takes the request, then refuses every later write.
    const refusing = refusingTaskIds(registry.registry);
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
      "GET /tasks/t-new": [
        { status: 404 },
        { body: task("t-new", "processing-completed", { resourceId: 31 }) },
      ],
      "DELETE /cloud-accounts/31": { status: 202, body: task("t-del", "initialized") },
    });

    // Act
    const error = await rejectionOf(
      registerCloudAccount(redisInput(), { secrets, redis: api.redis, registry: refusing }),
    );

    // Assess
    expect(error.name).toBe("AccessDenied");
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /cloud-accounts",
      "POST /cloud-accounts",
      "GET /tasks/t-new",
      "GET /tasks/t-new",
      "DELETE /cloud-accounts/31",
    ]);
  });

  it("leaves the task id to CheckRegistration when the registry stays busy: no second POST, nothing withdrawn", async () => {
    // Prepare
    const { registry: store } = registry;
    const busy = {
      get: store.get.bind(store),
      recordRegistration: async (...args: Parameters<typeof store.recordRegistration>) => {
        if (args[1].taskId !== undefined) throw new WorkflowError("Throttling", "Test: PutItem throttled");
        return store.recordRegistration(...args);
      },
    };
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), { secrets, redis: api.redis, registry: busy });

    // Assess
    expect(result).toEqual({ taskId: "t-new", reused: false });
    expect(api.calls.map((c) => c.method)).toEqual(["GET", "POST"]);
    expect(registration()).toMatchObject({ origin: "created", requests: 1 });
  });

  it("tries the id the registry recorded first, and trusts it only with our full key", async () => {
    // Prepare: an earlier run's record names cloud account 17.
    await registry.registry.recordRegistration(TARGET, {
      name: "payments-prod",
      accessKeyId: CREDENTIALS.accessKeyId,
      execution: EXECUTION,
      requestedAt: new Date().toISOString(),
      cloudAccountId: 17,
      origin: "found",
    });
    const api = fakeRedisApi({ "GET /cloud-accounts/17": { body: ours } });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ cloudAccountId: 17, reused: true });
    expect(api.calls.map((c) => c.path)).toEqual(["/cloud-accounts/17"]);
  });
});

describe("registerCloudAccount on its cloud account that Redis turned active-error", () => {
  const inError = { ...ours, status: "active-error" };

  /** An earlier run onboarded the account as cloud account 17, on the key this run holds too. */
  beforeEach(() => onboardedEarlier(CREDENTIALS.accessKeyId));

  it("gives it our credentials again (one PUT of the same key), for Redis to validate them anew", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts/17": { body: inError },
      "PUT /cloud-accounts/17": { status: 202, body: task("t-again", "received") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ taskId: "t-again", cloudAccountId: 17, reused: true, updated: true });
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /cloud-accounts/17",
      "PUT /cloud-accounts/17",
    ]);
    expect(api.calls[1]?.body).toEqual(UPDATE_REQUEST);
    // The same key before and after: nothing for RetireOldKey to delete.
    expect(registration()).toMatchObject({
      kind: "update",
      accessKeyId: CREDENTIALS.accessKeyId,
      previousAccessKeyId: CREDENTIALS.accessKeyId,
      cloudAccountId: 17,
      origin: "found",
    });
  });

  it("leaves an active-error cloud account the registry does not name as it is (found by name and key)", async () => {
    // Prepare: the registry names no cloud account; one of our name and key is in error.
    registry = await runningRegistry();
    const elsewhere = { ...inError, id: 23 };
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [elsewhere] } },
      "GET /cloud-accounts/23": { body: elsewhere },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ cloudAccountId: 23, reused: true });
    expect(api.calls.map((c) => c.method)).not.toContain("PUT");
  });
});

describe("register-cloud-account handler", () => {
  it("fails by name when REDIS_API_KEYS_SECRET is not set", async () => {
    // Prepare
    vi.stubEnv("REDIS_API_KEYS_SECRET", "");

    // Act
    const error = await rejectionOf(handler(redisInput(), lambdaContext(HOME.accountId)));

    // Assess
    expect(error.name).toBe("ConfigurationError");
    expect(error.message).toContain("REDIS_API_KEYS_SECRET");
    vi.unstubAllEnvs();
  });
});

describe("registerCloudAccount on a cloud account whose key was replaced", () => {
  const onOldKey = { ...ours, accessKeyId: OLD_KEY };

  /** An earlier run onboarded the account as cloud account 17, on the key since replaced. */
  beforeEach(() => onboardedEarlier(OLD_KEY));

  it("gives it the secret's key and console credentials (one PUT), never a second cloud account", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts/17": { body: onOldKey },
      "GET /cloud-accounts": { body: { cloudAccounts: [onOldKey] } },
      "PUT /cloud-accounts/17": { status: 202, body: task("t-upd", "received") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ taskId: "t-upd", cloudAccountId: 17, reused: true, updated: true });
    expect(api.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /cloud-accounts/17",
      "GET /cloud-accounts",
      "GET /cloud-accounts/17",
      "PUT /cloud-accounts/17",
    ]);
    expect(api.calls[3]?.body).toEqual(UPDATE_REQUEST);
    expect(registration()).toEqual({
      kind: "update",
      name: "payments-prod",
      accessKeyId: CREDENTIALS.accessKeyId,
      previousAccessKeyId: OLD_KEY,
      execution: EXECUTION,
      requestedAt: expect.any(String),
      requests: 1,
      taskId: "t-upd",
      cloudAccountId: 17,
      origin: "found",
    });
    expect(leakedSecrets(JSON.stringify([result, registry.stored()]))).toEqual([]);
  });

  it("records the update before the PUT: a PUT without an answer leaves the record naming the new key", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts/17": { body: onOldKey },
      "GET /cloud-accounts": { body: { cloudAccounts: [onOldKey] } },
      "PUT /cloud-accounts/17": { status: 503 },
    });

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), deps(api.redis)));

    // Assess
    expect(error.name).toBe("RedisCloudUnavailable");
    expect(registration()).toMatchObject({
      kind: "update",
      accessKeyId: CREDENTIALS.accessKeyId,
      previousAccessKeyId: OLD_KEY,
      cloudAccountId: 17,
      origin: "found",
    });
    expect(registration()?.taskId).toBeUndefined();
  });

  it("follows its own earlier PUT once Redis holds the new key: no second PUT, the record kept", async () => {
    // Prepare: an earlier attempt of this execution asked for the update.
    const asked = updateRecord();
    await registry.registry.recordRegistration(TARGET, asked);
    const api = fakeRedisApi({ "GET /cloud-accounts/17": { body: ours } });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ taskId: "t-upd", cloudAccountId: 17, reused: true, updated: true });
    expect(api.calls.map((c) => c.method)).toEqual(["GET"]);
    expect(registration()).toEqual(asked);
  });

  it("asks again, keeping the first previous key, when its earlier update did not take", async () => {
    // Prepare: the earlier PUT's task failed (a key not yet propagated); Redis is still on the old key.
    await registry.registry.recordRegistration(TARGET, updateRecord());
    const api = fakeRedisApi({
      "GET /cloud-accounts/17": { body: onOldKey },
      "GET /cloud-accounts": { body: { cloudAccounts: [onOldKey] } },
      "PUT /cloud-accounts/17": { status: 202, body: task("t-upd-2", "received") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ taskId: "t-upd-2", cloudAccountId: 17, reused: true, updated: true });
    expect(api.calls.filter((c) => c.method !== "GET")).toHaveLength(1);
    expect(registration()).toMatchObject({ requests: 2, taskId: "t-upd-2", previousAccessKeyId: OLD_KEY });
  });

  it("registers anew (POST) when the registry's cloud account is gone from Redis", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts/17": { status: 404, body: { type: "CLOUD_ACCOUNT_NOT_FOUND" } },
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), deps(api.redis));

    // Assess
    expect(result).toEqual({ taskId: "t-new", reused: false });
    expect(api.calls.some((c) => c.method === "PUT")).toBe(false);
    expect(registration()).toMatchObject({ origin: "created", taskId: "t-new" });
    expect(registration()?.kind).toBeUndefined();
  });

  it("never withdraws an update the registry refuses to record: the cloud account is not this run's", async () => {
    // Prepare
    const refusing = refusingTaskIds(registry.registry);
    const api = fakeRedisApi({
      "GET /cloud-accounts/17": { body: onOldKey },
      "GET /cloud-accounts": { body: { cloudAccounts: [onOldKey] } },
      "PUT /cloud-accounts/17": { status: 202, body: task("t-upd", "received") },
    });

    // Act
    const error = await rejectionOf(
      registerCloudAccount(redisInput(), { secrets, redis: api.redis, registry: refusing }),
    );

    // Assess
    expect(error.name).toBe("AccessDenied");
    expect(api.calls.some((c) => c.method === "DELETE")).toBe(false);
    expect(registration()).toMatchObject({ kind: "update", cloudAccountId: 17 });
  });
});
