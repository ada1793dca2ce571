import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { handler, registerCloudAccount } from "../../functions/register-cloud-account.ts";
import {
  CREATE_REQUEST,
  CREDENTIALS,
  fakeRedisApi,
  leakedSecrets,
  redisInput,
  SECRET_ARN,
  storeSecrets,
  task,
} from "../local/redis-cloud/fixtures.ts";
import { HOME, lambdaContext, rejectionOf, stepInput, TARGET } from "../support/aws.ts";

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

beforeEach(() => {
  secretsMock.reset();
  storeSecrets(secretsMock);
});

describe("registerCloudAccount", () => {
  it("reuses the cloud account that already holds the access key, without creating one", async () => {
    // Prepare
    const api = fakeRedisApi({ "GET /cloud-accounts": { body: { cloudAccounts: [theirs, ours] } } });

    // Act
    const result = await registerCloudAccount(redisInput(), { secrets, redis: api.redis });

    // Assess
    expect(result).toEqual({ cloudAccountId: 17, reused: true });
    expect(api.calls.map((c) => c.method)).toEqual(["GET"]);
  });

  it("creates the cloud account from the secret's credentials when none holds the key", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [theirs] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), { secrets, redis: api.redis });

    // Assess
    expect(result).toEqual({ taskId: "t-new", reused: false });
    expect(api.calls[1]?.body).toEqual(CREATE_REQUEST);
  });

  it("names the cloud account aws-<accountId> when the input has no name", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": { body: { cloudAccounts: [] } },
      "POST /cloud-accounts": { status: 202, body: task("t-new", "initialized") },
    });
    const input = { ...redisInput(), target: { ...stepInput().target, accountName: "" } };

    // Act
    await registerCloudAccount(input, { secrets, redis: api.redis });

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
    });

    // Act
    const result = await registerCloudAccount(redisInput(), { secrets, redis: api.redis });

    // Assess
    expect(result).toEqual({ cloudAccountId: 17, reused: true });
    expect(api.calls.map((c) => c.method)).toEqual(["GET", "POST", "GET"]);
  });

  it("re-lists on a bare 409 too, and reuses the account holding our key", async () => {
    // Prepare
    const api = fakeRedisApi({
      "GET /cloud-accounts": [{ body: { cloudAccounts: [] } }, { body: { cloudAccounts: [ours] } }],
      "POST /cloud-accounts": { status: 409 },
    });

    // Act
    const result = await registerCloudAccount(redisInput(), { secrets, redis: api.redis });

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
    });

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), { secrets, redis: api.redis }));

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
    const error = await rejectionOf(registerCloudAccount(redisInput(), { secrets, redis: api.redis }));

    // Assess
    expect(error.name).toBe("RedisCloudRejected");
    expect(api.calls).toHaveLength(2);
  });

  it("refuses the credentials of another account", async () => {
    // Prepare
    storeSecrets(secretsMock, { ...CREDENTIALS, accountId: "333333333333" });
    const api = fakeRedisApi();

    // Act
    const error = await rejectionOf(registerCloudAccount(redisInput(), { secrets, redis: api.redis }));

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
    const error = await rejectionOf(
      registerCloudAccount(redisInput(), { secrets, redis: fakeRedisApi().redis }),
    );

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
    const result = await registerCloudAccount(redisInput(), { secrets, redis: api.redis });

    // Assess
    expect(Object.keys(result).sort()).toEqual(["reused", "taskId"]);
    expect(leakedSecrets(JSON.stringify(result))).toEqual([]);
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
