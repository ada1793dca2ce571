import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { findCloudAccountOfKey } from "../../../functions/lib/cloud-accounts.ts";
import { readSettings } from "../../../functions/lib/config.ts";
import { WorkflowError } from "../../../functions/lib/errors.ts";
import {
  cachedRedisApiKeys,
  forgetRedisApiKeys,
  readRedisApiKeys,
  redisCloudFrom,
} from "../../../functions/lib/redis-api-keys.ts";
import { RedisCloud, RedisCloudError } from "../../../functions/lib/redis-cloud.ts";
import {
  API_KEYS,
  API_KEYS_SECRET,
  CREATE_REQUEST,
  CREDENTIALS,
  fakeRedisApi,
  leakedSecrets,
  task,
  UPDATE_REQUEST,
} from "../../local/redis-cloud/fixtures.ts";
import { awsError, rejectionOf } from "../../support/aws.ts";

describe("RedisCloud client requests", () => {
  it("sends both API keys as headers to the base URL's path", async () => {
    // Prepare
    const { redis, calls } = fakeRedisApi({ "GET /cloud-accounts": { body: { cloudAccounts: [] } } });

    // Act
    await redis.listCloudAccounts();

    // Assess
    expect(calls).toHaveLength(1);
    expect(calls[0]?.path).toBe("/cloud-accounts");
    expect(calls[0]?.headers.get("x-api-key")).toBe(API_KEYS.accountKey);
    expect(calls[0]?.headers.get("x-api-secret-key")).toBe(API_KEYS.userKey);
  });

  it("posts the create request as JSON and answers the task", async () => {
    // Prepare
    const { redis, calls } = fakeRedisApi({
      "POST /cloud-accounts": { status: 202, body: task("t-1", "initialized") },
    });

    // Act
    const created = await redis.createCloudAccount(CREATE_REQUEST);

    // Assess
    expect(created).toMatchObject({ taskId: "t-1", status: "initialized" });
    expect(calls[0]?.body).toEqual(CREATE_REQUEST);
    expect(calls[0]?.headers.get("content-type")).toBe("application/json");
  });

  it("puts the update request as JSON to the cloud account's path and answers the task", async () => {
    // Prepare
    const { redis, calls } = fakeRedisApi({
      "PUT /cloud-accounts/17": { status: 202, body: task("t-2", "received") },
    });

    // Act
    const updated = await redis.updateCloudAccount(17, UPDATE_REQUEST);

    // Assess
    expect(updated).toMatchObject({ taskId: "t-2", status: "received" });
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(["PUT /cloud-accounts/17"]);
    expect(calls[0]?.body).toEqual(UPDATE_REQUEST);
    expect(calls[0]?.headers.get("content-type")).toBe("application/json");
  });

  it("refuses to update a cloud account whose id is not a non-negative integer, sending nothing", async () => {
    // Prepare
    const { redis, calls } = fakeRedisApi();

    // Act
    const error = await rejectionOf(redis.updateCloudAccount(-1, UPDATE_REQUEST));

    // Assess
    expect(error.name).toBe("UnexpectedError");
    expect(calls).toEqual([]);
  });

  it("lists tasks from `tasks` or a bare array, skipping entries without a task id", async () => {
    // Prepare
    const done = task("t-1", "processing-completed", { resourceId: 17 });
    const wrapped = fakeRedisApi({ "GET /tasks": { body: { tasks: [done, { status: "received" }] } } });
    const bare = fakeRedisApi({ "GET /tasks": { body: [done] } });
    const odd = fakeRedisApi({ "GET /tasks": { body: { tasks: "none" } } });

    // Act
    const [fromObject, fromArray, fromOdd] = await Promise.all([
      wrapped.redis.listTasks(),
      bare.redis.listTasks(),
      odd.redis.listTasks(),
    ]);

    // Assess
    expect(fromObject.map((t) => [t.taskId, t.resourceId])).toEqual([["t-1", 17]]);
    expect(fromArray.map((t) => t.taskId)).toEqual(["t-1"]);
    expect(fromOdd).toEqual([]);
    expect(wrapped.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /tasks"]);
  });

  it("never follows a redirect, which would carry the keys elsewhere", async () => {
    // Prepare
    let redirect: RequestInit["redirect"];
    const redis = new RedisCloud({
      baseUrl: "https://api.redis.test/v1",
      keys: API_KEYS,
      fetch: (async (_url: string, init: RequestInit) => {
        redirect = init.redirect;
        return new Response(null, { status: 302, headers: { location: "https://elsewhere.test/" } });
      }) as typeof fetch,
    });

    // Act
    const error = await rejectionOf(redis.getCloudAccount(1));

    // Assess
    expect(redirect).toBe("manual");
    expect(error.name).toBe("ConfigurationError");
    expect(error.message).toContain("REDIS_CLOUD_API_URL");
  });
});

describe("RedisCloud client error mapping", () => {
  it.each([
    [400, "RedisCloudRejected"],
    [412, "RedisCloudRejected"],
    [422, "RedisCloudRejected"],
    [401, "RedisCloudUnauthorized"],
    [403, "RedisCloudUnauthorized"],
    [404, "RedisCloudNotFound"],
    [409, "RedisCloudConflict"],
    [408, "RedisCloudUnavailable"],
    [429, "RedisCloudUnavailable"],
    [500, "RedisCloudUnavailable"],
    [503, "RedisCloudUnavailable"],
  ])("maps HTTP %i to %s, naming the method, path and status", async (status, name) => {
    // Prepare
    const { redis } = fakeRedisApi({ "GET /tasks/t-1": { status, body: { type: "SOME_TYPE" } } });

    // Act
    const error = await rejectionOf(redis.getTask("t-1"));

    // Assess
    expect(error).toBeInstanceOf(RedisCloudError);
    expect(error.name).toBe(name);
    expect(error.message).toContain(`GET /tasks/t-1 answered ${status}`);
    expect((error as RedisCloudError).status).toBe(status);
  });

  it("carries the API's error type and description in a rejection", async () => {
    // Prepare
    const { redis } = fakeRedisApi({
      "POST /cloud-accounts": {
        status: 400,
        body: { type: "CLOUD_ACCOUNT_NAME_EXISTS", status: "400 BAD_REQUEST", description: "Name is taken" },
      },
    });

    // Act
    const error = await rejectionOf(redis.createCloudAccount(CREATE_REQUEST));

    // Assess
    expect(error.name).toBe("RedisCloudRejected");
    expect(error.message).toContain("CLOUD_ACCOUNT_NAME_EXISTS: Name is taken");
    expect((error as RedisCloudError).redisType).toBe("CLOUD_ACCOUNT_NAME_EXISTS");
  });

  it.each([
    [
      "an error object",
      { error: { type: "BAD_REQUEST", description: "bad field" } },
      "BAD_REQUEST: bad field",
    ],
    [
      "status and message",
      { status: 400, message: "Bad Request - client error" },
      "Bad Request - client error",
    ],
    ["an error code string", { error: "CLOUD_ACCOUNT_USED" }, "CLOUD_ACCOUNT_USED"],
  ])("reads an error body made of %s", async (_shape, body, said) => {
    // Prepare
    const { redis } = fakeRedisApi({ "GET /cloud-accounts/5": { status: 400, body } });

    // Act
    const error = await rejectionOf(redis.getCloudAccount(5));

    // Assess
    expect(error.message).toContain(`(${said})`);
  });

  it("tells to check the API key secret and the key's CIDR allow-list on 401", async () => {
    // Prepare
    const { redis } = fakeRedisApi({ "GET /cloud-accounts": { status: 401 } });

    // Act
    const error = await rejectionOf(redis.listCloudAccounts());

    // Assess
    expect(error.name).toBe("RedisCloudUnauthorized");
    expect(error.message).toContain("REDIS_API_KEYS_SECRET");
    expect(error.message).toContain("CIDR allow-list");
  });

  it("turns a network failure into the retryable RedisCloudUnavailable", async () => {
    // Prepare
    const refused = Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
    const redis = new RedisCloud({
      baseUrl: "https://api.redis.test/v1",
      keys: API_KEYS,
      fetch: (async () => Promise.reject(refused)) as typeof fetch,
    });

    // Act
    const error = await rejectionOf(redis.getTask("t-1"));

    // Assess
    expect(error.name).toBe("RedisCloudUnavailable");
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("gives up on a call that does not answer in time", async () => {
    // Prepare
    const redis = new RedisCloud({
      baseUrl: "https://api.redis.test/v1",
      keys: API_KEYS,
      timeoutMs: 20,
      fetch: ((_url: string, init: RequestInit) =>
        new Promise((_resolve, reject) => {
          init.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        })) as typeof fetch,
    });

    // Act
    const error = await rejectionOf(redis.getTask("t-1"));

    // Assess
    expect(error.name).toBe("RedisCloudUnavailable");
    expect(error.message).toContain("TimeoutError");
  });

  it("never puts the keys or the request's secrets in a message, even when the API echoes them", async () => {
    // Prepare
    const echo = `got ${CREDENTIALS.secretAccessKey} / ${CREDENTIALS.consolePassword} from ${API_KEYS.accountKey}:${API_KEYS.userKey}`;
    const statuses = [400, 401, 404, 409, 429, 500];
    const messages: string[] = [];

    // Act
    for (const status of statuses) {
      const { redis } = fakeRedisApi({
        "POST /cloud-accounts": { status, body: { type: "BAD_REQUEST", description: echo } },
      });
      messages.push((await rejectionOf(redis.createCloudAccount(CREATE_REQUEST))).message);
    }

    // Assess
    expect(messages).toHaveLength(statuses.length);
    expect(messages[0]).toContain("got *** / *** from ***:***");
    expect(leakedSecrets(messages.join("\n"))).toEqual([]);
  });

  it("never puts the update's secrets or the keys in a message, even when the API echoes them", async () => {
    // Prepare
    const echo = `got ${CREDENTIALS.secretAccessKey} / ${CREDENTIALS.consolePassword} from ${API_KEYS.accountKey}:${API_KEYS.userKey}`;
    const statuses = [400, 401, 404, 409, 429, 500];
    const messages: string[] = [];

    // Act
    for (const status of statuses) {
      const { redis } = fakeRedisApi({
        "PUT /cloud-accounts/17": { status, body: { type: "BAD_REQUEST", description: echo } },
      });
      messages.push((await rejectionOf(redis.updateCloudAccount(17, UPDATE_REQUEST))).message);
    }

    // Assess
    expect(messages[0]).toContain("PUT /cloud-accounts/17 answered 400");
    expect(messages[0]).toContain("got *** / *** from ***:***");
    expect(leakedSecrets(messages.join("\n"))).toEqual([]);
  });

  it("refuses a success that is not JSON as unavailable, and a task without an id as unexpected", async () => {
    // Prepare
    const { redis } = fakeRedisApi({ "GET /tasks/t-1": { body: { status: "received" } } });
    const notJson = new RedisCloud({
      baseUrl: "https://api.redis.test/v1",
      keys: API_KEYS,
      fetch: (async () => new Response("<html>maintenance</html>", { status: 200 })) as typeof fetch,
    });

    // Act
    const pageError = await rejectionOf(notJson.getTask("t-1"));
    const noIdError = await rejectionOf(redis.getTask("t-1"));

    // Assess
    expect(pageError.name).toBe("RedisCloudUnavailable");
    expect(noIdError.name).toBe("UnexpectedError");
  });
});

describe("RedisCloud client rate headers", () => {
  it("exposes X-Rate-Limit-Remaining and Retry-After of the last response", async () => {
    // Prepare
    const { redis } = fakeRedisApi({
      "GET /tasks/t-1": [
        { body: task("t-1", "received"), headers: { "X-Rate-Limit-Remaining": "12" } },
        { status: 429, headers: { "X-Rate-Limit-Remaining": "0", "Retry-After": "37" } },
      ],
    });

    // Act
    await redis.getTask("t-1");
    const afterSuccess = { ...redis.rateLimit };
    const error = await rejectionOf(redis.getTask("t-1"));

    // Assess
    expect(afterSuccess).toEqual({ remaining: 12 });
    expect(redis.rateLimit).toEqual({ remaining: 0, retryAfterSeconds: 37 });
    expect(error.message).toContain("retry after 37 s");
  });

  it("reads a Retry-After given as an HTTP date", async () => {
    // Prepare
    const at = new Date(Date.now() + 30_000).toUTCString();
    const { redis } = fakeRedisApi({ "GET /tasks/t-1": { status: 503, headers: { "Retry-After": at } } });

    // Act
    await rejectionOf(redis.getTask("t-1"));

    // Assess
    expect(redis.rateLimit.retryAfterSeconds).toBeGreaterThanOrEqual(28);
    expect(redis.rateLimit.retryAfterSeconds).toBeLessThanOrEqual(30);
  });
});

describe("RedisCloud client parsing", () => {
  it("accepts a task error as the live API's object or as the spec's string", async () => {
    // Prepare
    const { redis } = fakeRedisApi({
      "GET /tasks/live": {
        body: task("live", "processing-error", {
          error: { type: "CLOUD_ACCOUNT_INVALID_CREDS", status: "400 BAD_REQUEST", description: "Bad creds" },
        }),
      },
      "GET /tasks/spec": { body: task("spec", "processing-error", { error: "CLOUD_ACCOUNT_INVALID_CREDS" }) },
    });

    // Act
    const live = await redis.getTask("live");
    const spec = await redis.getTask("spec");

    // Assess
    expect(live.error).toEqual({
      type: "CLOUD_ACCOUNT_INVALID_CREDS",
      status: "400 BAD_REQUEST",
      description: "Bad creds",
    });
    expect(spec.error).toEqual({ type: "CLOUD_ACCOUNT_INVALID_CREDS" });
  });

  it("reads links from a `links` array and from a `_links` object", async () => {
    // Prepare
    const { redis } = fakeRedisApi({
      "GET /tasks/t-1": { body: task("t-1", "processing-completed", { resourceId: 42 }) },
      "GET /cloud-accounts/42": {
        body: {
          id: 42,
          status: "active",
          links: [{ rel: "self", href: "/v1/cloud-accounts/42", type: "GET" }],
        },
      },
    });

    // Act
    const done = await redis.getTask("t-1");
    const account = await redis.getCloudAccount(42);

    // Assess
    expect(done.resourceId).toBe(42);
    expect(done.links).toEqual([
      {
        rel: "task",
        href: "https://api.redis.test/v1/tasks/t-1",
        title: "getTaskStatusUpdates",
        type: "GET",
      },
    ]);
    expect(account.links).toEqual([{ rel: "self", href: "/v1/cloud-accounts/42", type: "GET" }]);
  });

  it("lists cloud accounts from `cloudAccounts` or a bare array, skipping entries without an id", async () => {
    // Prepare
    const wrapped = fakeRedisApi({
      "GET /cloud-accounts": {
        body: { accountId: 1, cloudAccounts: [{ id: 1, name: "a" }, { name: "no id" }] },
      },
    });
    const bare = fakeRedisApi({ "GET /cloud-accounts": { body: [{ id: "2", name: "b" }] } });

    // Act
    const fromObject = await wrapped.redis.listCloudAccounts();
    const fromArray = await bare.redis.listCloudAccounts();

    // Assess
    expect(fromObject.map((a) => a.id)).toEqual([1]);
    expect(fromArray.map((a) => a.id)).toEqual([2]);
  });

  it("finds our cloud account by the full key read by id, never by a listed (masked) key", async () => {
    // Prepare: two listed as A***2; one of our name, whose full key is another AWS account's.
    const listed = [
      { id: 1, name: "other", accessKeyId: "A***2" },
      { id: 2, name: "payments-prod", accessKeyId: "A***2" },
      { id: 3, name: "payments-prod", accessKeyId: "A***2" },
      { id: 4, name: "x", accessKeyId: CREDENTIALS.accessKeyId },
    ];
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: listed } },
      "GET /cloud-accounts/2": {
        body: { id: 2, name: "payments-prod", accessKeyId: "AKIAOTHER00000000222" },
      },
      "GET /cloud-accounts/3": {
        body: { id: 3, name: "payments-prod", accessKeyId: CREDENTIALS.accessKeyId },
      },
    });
    const ours = { name: "payments-prod", accessKeyId: CREDENTIALS.accessKeyId };

    // Act
    const found = await findCloudAccountOfKey(api.redis, ours);
    const elsewhere = await findCloudAccountOfKey(api.redis, { ...ours, name: "elsewhere" });

    // Assess: only the candidates of our name are read, and only the full key decides.
    expect(found?.id).toBe(3);
    expect(elsewhere).toBeUndefined();
    const reads = api.calls.filter((c) => c.path !== "/cloud-accounts").map((c) => c.path);
    expect(reads).toEqual(["/cloud-accounts/2", "/cloud-accounts/3"]);
  });

  it("takes the registry's id when its full key is ours, else looks by name", async () => {
    // Prepare
    const mine = { id: 7, name: "payments-prod", accessKeyId: CREDENTIALS.accessKeyId };
    const api = fakeRedisApi({
      "GET /cloud-accounts/7": { body: mine },
      "GET /cloud-accounts/8": { body: { ...mine, id: 8, accessKeyId: "AKIAOTHER00000000222" } },
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
    });
    const ours = { name: "payments-prod", accessKeyId: CREDENTIALS.accessKeyId };

    // Act
    const byId = await findCloudAccountOfKey(api.redis, { ...ours, knownId: 7 });
    const notOurs = await findCloudAccountOfKey(api.redis, { ...ours, knownId: 8 });
    const gone = await findCloudAccountOfKey(api.redis, { ...ours, knownId: 9 });

    // Assess
    expect(byId?.id).toBe(7);
    expect(notOurs).toBeUndefined();
    expect(gone).toBeUndefined();
    expect(api.calls.map((c) => c.path)).toEqual([
      "/cloud-accounts/7",
      "/cloud-accounts/8",
      "/cloud-accounts",
      "/cloud-accounts/9",
      "/cloud-accounts",
    ]);
  });
});

/** The Redis Cloud steps' settings, read as their Lambda functions read them. */
const loadRedisCloudConfig = (env: Record<string, string>) => readSettings(["apiKeysSecret", "apiUrl"], env);

describe("the Redis Cloud settings", () => {
  it("defaults the API URL to Redis Cloud's and requires the keys secret", () => {
    // Act
    const config = loadRedisCloudConfig({ REDIS_API_KEYS_SECRET: API_KEYS_SECRET });
    const missing = () => loadRedisCloudConfig({});

    // Assess
    expect(config).toEqual({ apiKeysSecret: API_KEYS_SECRET, apiUrl: "https://api.redislabs.com/v1" });
    expect(missing).toThrow(/REDIS_API_KEYS_SECRET: is required/);
  });

  it.each([
    ["http://api.redislabs.com/v1", "must use https"],
    ["not a url", "absolute URL"],
    ["https://user:pw@api.redislabs.com/v1", "must not carry credentials"],
  ])("refuses REDIS_CLOUD_API_URL %s by name", (url, problem) => {
    // Act
    const load = () =>
      loadRedisCloudConfig({ REDIS_API_KEYS_SECRET: API_KEYS_SECRET, REDIS_CLOUD_API_URL: url });

    // Assess
    expect(load).toThrow(WorkflowError);
    expect(load).toThrow(new RegExp(`setting REDIS_CLOUD_API_URL: .*${problem}`));
  });

  it("accepts plain http only for a local API, and trims a trailing slash", () => {
    // Act
    const local = loadRedisCloudConfig({
      REDIS_API_KEYS_SECRET: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:redis-keys-AbCdEf",
      REDIS_CLOUD_API_URL: "http://127.0.0.1:4010/v1/",
    });

    // Assess
    expect(local.apiUrl).toBe("http://127.0.0.1:4010/v1");
  });

  it("refuses a keys secret that is neither a name nor an ARN", () => {
    // Act
    const load = () => loadRedisCloudConfig({ REDIS_API_KEYS_SECRET: "bad name with spaces" });

    // Assess
    expect(load).toThrow(/setting REDIS_API_KEYS_SECRET: must be a Secrets Manager secret name or ARN/);
  });
});

describe("Redis Cloud API keys secret", () => {
  const secrets = mockClient(SecretsManagerClient);

  beforeEach(() => {
    secrets.reset();
    forgetRedisApiKeys();
  });

  it("reads both keys", async () => {
    // Prepare
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(API_KEYS) });

    // Act
    const keys = await readRedisApiKeys(new SecretsManagerClient({}), API_KEYS_SECRET);

    // Assess
    expect(keys).toEqual(API_KEYS);
  });

  it.each([
    ["not JSON", `accountKey=${API_KEYS.accountKey}`, "is not a JSON object"],
    ["missing the user key", JSON.stringify({ accountKey: API_KEYS.accountKey }), "lacks userKey"],
    [
      "holding other fields",
      JSON.stringify({ key: API_KEYS.accountKey, secret: API_KEYS.userKey }),
      "lacks accountKey and userKey",
    ],
  ])(
    "refuses a secret %s as RedisCloudUnauthorized naming the fields, never the values",
    async (_case, text, problem) => {
      // Prepare
      secrets.on(GetSecretValueCommand).resolves({ SecretString: text });

      // Act
      const error = await rejectionOf(readRedisApiKeys(new SecretsManagerClient({}), API_KEYS_SECRET));

      // Assess
      expect(error.name).toBe("RedisCloudUnauthorized");
      expect(error.message).toContain(`secret ${API_KEYS_SECRET} ${problem}`);
      expect(error.message).toContain('"accountKey"');
      expect(leakedSecrets(error.message)).toEqual([]);
    },
  );

  it("refuses a missing secret as RedisCloudUnauthorized naming it", async () => {
    // Prepare
    secrets.on(GetSecretValueCommand).rejects(awsError.secretNotFound());

    // Act
    const error = await rejectionOf(readRedisApiKeys(new SecretsManagerClient({}), API_KEYS_SECRET));

    // Assess
    expect(error.name).toBe("RedisCloudUnauthorized");
    expect(error.message).toContain(`${API_KEYS_SECRET} does not exist`);
  });

  it("reads the secret once per container, and again after a failed read or when forgotten", async () => {
    // Prepare
    secrets
      .on(GetSecretValueCommand)
      .rejectsOnce(awsError.serviceFailure())
      .resolves({ SecretString: JSON.stringify(API_KEYS) });
    const client = new SecretsManagerClient({});

    // Act
    const failed = await rejectionOf(cachedRedisApiKeys(client, API_KEYS_SECRET));
    await cachedRedisApiKeys(client, API_KEYS_SECRET);
    await cachedRedisApiKeys(client, API_KEYS_SECRET);
    const readsWhileCached = secrets.commandCalls(GetSecretValueCommand).length;
    forgetRedisApiKeys();
    await cachedRedisApiKeys(client, API_KEYS_SECRET);

    // Assess
    expect(failed.name).toBe("ServiceFailure");
    expect(readsWhileCached).toBe(2);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it("gives a client with the secret's keys at the configured URL", async () => {
    // Prepare
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(API_KEYS) });
    const api = fakeRedisApi({ "GET /cloud-accounts": { body: { cloudAccounts: [] } } });
    const source = redisCloudFrom(
      { apiKeysSecret: API_KEYS_SECRET, apiUrl: "https://api.redis.test/v1" },
      { fetch: api.fetch },
    );

    // Act
    const redis = await source(new SecretsManagerClient({}), "Test");
    await redis.listCloudAccounts();

    // Assess
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: API_KEYS_SECRET });
    expect(api.calls[0]?.headers.get("x-api-secret-key")).toBe(API_KEYS.userKey);
  });
});
