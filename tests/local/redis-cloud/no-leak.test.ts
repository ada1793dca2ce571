import {
  type AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import {
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { handler as checkHandler } from "../../../functions/check-registration.ts";
import { logger } from "../../../functions/lib/powertools.ts";
import { forgetRedisApiKeys } from "../../../functions/lib/redis-api-keys.ts";
import { fromItem, toItem } from "../../../functions/lib/registry.ts";
import { handler as registerHandler } from "../../../functions/register-cloud-account.ts";
import { handler as verifyHandler } from "../../../functions/verify-access-key.ts";
import { type LocalRedisCloud, startLocalRedisCloud } from "../../../local/redis-cloud/server.ts";
import { arnIn, EXECUTION, HOME, lambdaContext, TARGET } from "../../support/aws.ts";
import {
  API_KEYS,
  API_KEYS_SECRET,
  CREDENTIALS,
  leakedSecrets,
  redisInput,
  storeSecrets,
} from "./fixtures.ts";

/*
 * The three Redis steps, through their Lambda handlers, against the local API: a key refused
 * while young, then accepted; a task failing for good; refused API keys. Whatever they output,
 * throw or log, and whatever the API recorded, must hold no API key and no account secret.
 */

const secretsMock = mockClient(SecretsManagerClient);
const stsMock = mockClient(STSClient);
const dynamodbMock = mockClient(DynamoDBClient);
/** The registry item, as the steps last wrote it: the run is this execution's. */
let stored: Record<string, AttributeValue> = toItem({
  accountId: TARGET,
  version: 1,
  status: "onboarding",
  lastExecution: EXECUTION,
  lastOutcome: "running",
  startedAt: "2026-01-01T00:00:00.000Z",
  updatedAt: "2026-01-01T00:00:00.000Z",
  resources: [],
});
const context = lambdaContext(HOME.accountId);

let api: LocalRedisCloud;
let keyPropagated = false;
const logged: string[] = [];

beforeAll(async () => {
  api = await startLocalRedisCloud({ keys: API_KEYS, isKeyPropagated: () => keyPropagated });
  vi.stubEnv("REDIS_API_KEYS_SECRET", API_KEYS_SECRET);
  vi.stubEnv("REDIS_CLOUD_API_URL", api.url);
  vi.stubEnv("REGISTRY_TABLE_NAME", "account-registry");
  dynamodbMock.on(GetItemCommand).callsFake(() => ({ Item: stored }));
  dynamodbMock.on(PutItemCommand).callsFake((input: { Item: Record<string, AttributeValue> }) => {
    stored = input.Item;
    return {};
  });
  storeSecrets(secretsMock);
  secretsMock.on(TagResourceCommand).resolves({});
  secretsMock.on(PutSecretValueCommand).resolves({});
  stsMock.on(GetCallerIdentityCommand).resolves({ Arn: arnIn(TARGET, "user/redislabs-user") });
  // What the steps ask to log, whatever the level (silent in tests).
  for (const level of ["debug", "info", "warn", "error"] as const) {
    vi.spyOn(logger, level).mockImplementation((...args: unknown[]) => {
      logged.push(JSON.stringify(args));
    });
  }
});

afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await api.close();
});

/** Every output and error message of the steps, in order. */
const seen: string[] = [];

async function invoke<R>(call: () => Promise<R>): Promise<R | Error> {
  try {
    const output = await call();
    seen.push(JSON.stringify(output));
    return output;
  } catch (error) {
    seen.push(`${(error as Error).name}: ${(error as Error).message}`);
    return error as Error;
  }
}

type Registration = { taskId?: string; cloudAccountId?: number; status?: string };

/** CheckRegistration, looped as the state machine does, until active or an error. */
async function checkUntilDone(registration: Registration): Promise<Registration | Error> {
  let current: Registration | Error = registration;
  for (let i = 0; i < 20; i++) {
    const previous: Registration = current;
    current = await invoke(
      () => checkHandler(redisInput({ registration: previous }), context) as Promise<Registration>,
    );
    if (current instanceof Error || current.status === "active") break;
  }
  return current;
}

describe("Redis steps end to end against the local API", () => {
  it("leak no API key and no account secret in outputs, errors, logs or requests", async () => {
    // Act: a young key is refused, then registered again once propagated.
    const verified = await invoke(() => verifyHandler(redisInput(), context));
    const first = await invoke(() => registerHandler(redisInput(), context));
    const refused = await checkUntilDone(first as Registration);
    keyPropagated = true;
    const second = await invoke(() => registerHandler(redisInput(), context));
    const active = await checkUntilDone(second as Registration);
    const again = await invoke(() => registerHandler(redisInput(), context));

    // Act: a task failing for good (the cloud account given a new key), and API keys the API refuses.
    api.state.options.failTasksWith = { type: "CLOUD_ACCOUNT_PERMISSION_FAILED" };
    const otherKey = { ...CREDENTIALS, accessKeyId: "AKIAEXAMPLE000000333", accountId: TARGET };
    storeSecrets(secretsMock, otherKey);
    const failed = await checkUntilDone(
      (await invoke(() => registerHandler(redisInput(), context))) as Registration,
    );
    api.state.options.failTasksWith = undefined;
    storeSecrets(secretsMock, CREDENTIALS, {
      accountKey: "revoked-account-key",
      userKey: "revoked-user-key",
    });
    forgetRedisApiKeys();
    const unauthorized = await invoke(() => registerHandler(redisInput(), context));

    // Assess: the scenario happened as intended.
    expect(verified).toMatchObject({ accessKeyId: CREDENTIALS.accessKeyId });
    expect(refused).toMatchObject({ name: "CloudAccountInvalidCreds" });
    expect(active).toMatchObject({ status: "active" });
    // Found again, not registered twice; this execution made it, so it stays this run's.
    expect(again).toMatchObject({ cloudAccountId: (active as Registration).cloudAccountId, reused: false });
    expect(failed).toMatchObject({ name: "RedisTaskFailed" });
    expect(unauthorized).toMatchObject({ name: "RedisCloudUnauthorized" });
    expect(logged.join("")).toContain("step done");
    expect(logged.join("")).toContain("step failed");
    expect(api.state.requests.some((r) => r.method === "POST")).toBe(true);
    // The new key goes to the same cloud account, with its secrets in the request only.
    expect(api.state.requests.filter((r) => r.method === "PUT")).toHaveLength(1);

    // Assess: nothing leaked anywhere.
    expect(leakedSecrets(seen.join("\n"))).toEqual([]);
    expect(leakedSecrets(logged.join(""))).toEqual([]);
    expect(leakedSecrets(JSON.stringify(api.state.requests))).toEqual([]);
    expect(fromItem(stored).registration).toMatchObject({
      execution: EXECUTION,
      kind: "update",
      accessKeyId: otherKey.accessKeyId,
      previousAccessKeyId: CREDENTIALS.accessKeyId,
      origin: "found",
    });
    expect(leakedSecrets(JSON.stringify(fromItem(stored)))).toEqual([]);
  });
});
