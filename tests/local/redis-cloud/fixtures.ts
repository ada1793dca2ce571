import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { AwsClientStub } from "aws-sdk-client-mock";
import type { RedisStepInput } from "../../../functions/lib/redis-api-keys.ts";
import {
  type CloudAccountCreateRequest,
  type CloudAccountUpdateRequest,
  RedisCloud,
} from "../../../functions/lib/redis-cloud.ts";
import { type RegistrationRecord, Registry } from "../../../functions/lib/registry.ts";
import { FakeAws } from "../../../local/aws/index.ts";
import { createLocalTables, REGISTRY_TABLE, registryItemOf } from "../../../local/environment.ts";
import { EXECUTION, HOME, stepInput, TARGET } from "../../support/aws.ts";

/** Shared by the Redis Cloud tests: one onboarded account's secret and the API keys. */

export const SECRET_ARN = `arn:aws:secretsmanager:${HOME.region}:${HOME.accountId}:secret:redis-cloud/byoc/${TARGET}-AbCdEf`;
export const API_KEYS_SECRET = "redis-cloud/api-keys";

export const CREDENTIALS = {
  accountId: TARGET,
  accessKeyId: "AKIAEXAMPLE000000222",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCY-secret-key-222",
  consoleUsername: "redislabs-user",
  consolePassword: "Pw!console-password-7f3a9c1e5b2d",
  signInUrl: `https://${TARGET}.signin.aws.amazon.com/console`,
};

/** The registration of the target account that the credentials above make. */
export const CREATE_REQUEST: CloudAccountCreateRequest = {
  name: "payments-prod",
  provider: "AWS",
  accessKeyId: CREDENTIALS.accessKeyId,
  accessSecretKey: CREDENTIALS.secretAccessKey,
  consoleUsername: CREDENTIALS.consoleUsername,
  consolePassword: CREDENTIALS.consolePassword,
  signInLoginUrl: CREDENTIALS.signInUrl,
};

/** The same credentials given to an existing cloud account (a new key for it). */
export const UPDATE_REQUEST: CloudAccountUpdateRequest = {
  accessKeyId: CREDENTIALS.accessKeyId,
  accessSecretKey: CREDENTIALS.secretAccessKey,
  consoleUsername: CREDENTIALS.consoleUsername,
  consolePassword: CREDENTIALS.consolePassword,
  signInLoginUrl: CREDENTIALS.signInUrl,
};

/** The key Redis held before a run gave its cloud account (17) the credentials' key. */
export const OLD_KEY = "AKIAEXAMPLE000000111";

/** RegisterCloudAccount's record of its update of cloud account 17 from OLD_KEY to the credentials' key. */
export const updateRecord = (changes: Partial<RegistrationRecord> = {}): RegistrationRecord => ({
  kind: "update",
  name: "payments-prod",
  accessKeyId: CREDENTIALS.accessKeyId,
  previousAccessKeyId: OLD_KEY,
  execution: EXECUTION,
  requestedAt: "2026-01-02T00:00:00.000Z",
  requests: 1,
  taskId: "t-upd",
  cloudAccountId: 17,
  origin: "found",
  ...changes,
});

export const API_KEYS = { accountKey: "acct-key-3f9a7c1e2b4d6f80", userKey: "user-key-0a8c6e4f2d1b3a5c" };

/** Values that must never appear in an output, an error, a log line or a request log. */
export const SECRET_VALUES = [
  CREDENTIALS.secretAccessKey,
  CREDENTIALS.consolePassword,
  API_KEYS.accountKey,
  API_KEYS.userKey,
];

/** Every secret value found in `text` (none, when nothing leaked). */
export const leakedSecrets = (text: string): string[] =>
  SECRET_VALUES.filter((secret) => text.includes(secret));

export function redisInput(extra: Record<string, unknown> = {}): RedisStepInput {
  return { ...stepInput(), credentialsSecretArn: SECRET_ARN, ...extra };
}

/** The credentials secret (and, when asked, the API keys secret) as Secrets Manager holds them. */
export function storeSecrets(
  secrets: AwsClientStub<SecretsManagerClient>,
  credentials: object = CREDENTIALS,
  apiKeys: object | undefined = API_KEYS,
): void {
  secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
    ARN: SECRET_ARN,
    SecretString: JSON.stringify(credentials),
  });
  if (apiKeys) {
    secrets.on(GetSecretValueCommand, { SecretId: API_KEYS_SECRET }).resolves({
      SecretString: JSON.stringify(apiKeys),
    });
  }
}

export interface FakeAnswer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ApiCall {
  method: string;
  path: string;
  headers: Headers;
  body?: unknown;
}

/**
 * A scripted Redis Cloud API behind a real client: each route (`"GET /tasks/t-1"`) answers from
 * its list in turn, the last answer repeating. Unscripted routes answer 404.
 */
export function fakeRedisApi(routes: Record<string, FakeAnswer | FakeAnswer[]> = {}) {
  const calls: ApiCall[] = [];
  const served = new Map<string, number>();
  const fetchImpl = (async (url: string | URL | Request, init?: RequestInit) => {
    const path = new URL(String(url)).pathname.replace(/^\/v1/, "");
    const method = init?.method ?? "GET";
    const route = `${method} ${path}`;
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
    calls.push({
      method,
      path,
      headers: new Headers(init?.headers),
      ...(body === undefined ? {} : { body }),
    });
    const script = routes[route];
    const answers = script === undefined ? [{ status: 404, body: { type: "NOT_FOUND" } }] : [script].flat();
    const index = Math.min(served.get(route) ?? 0, answers.length - 1);
    served.set(route, index + 1);
    const answer = answers[index] ?? {};
    const text = answer.body === undefined ? null : JSON.stringify(answer.body);
    return new Response(text, { status: answer.status ?? 200, headers: answer.headers ?? {} });
  }) as typeof fetch;
  const redis = new RedisCloud({ baseUrl: "https://api.redis.test/v1", keys: API_KEYS, fetch: fetchImpl });
  return { redis, calls, fetch: fetchImpl };
}

/** A task as the live API answers it. */
export function task(taskId: string, status: string, response: object = {}) {
  return {
    taskId,
    commandType: "cloudAccountCreateRequest",
    status,
    description: "",
    timestamp: "2026-01-01T00:00:00Z",
    response,
    _links: {
      task: { href: `https://api.redis.test/v1/tasks/${taskId}`, title: "getTaskStatusUpdates", type: "GET" },
    },
  };
}

/**
 * The account registry in an in-memory DynamoDB, naming `execution` as the target's running one
 * (RecordStart's doing), and what it stores now.
 */
export async function runningRegistry(execution = EXECUTION) {
  const aws = new FakeAws();
  aws.addAccount(HOME.accountId);
  const dynamodb = createLocalTables(aws.account(HOME.accountId).dynamodb);
  const registry = new Registry(aws.clients(HOME).dynamodb(), REGISTRY_TABLE, "Test");
  await registry.beginRun(TARGET, { execution });
  return { aws, registry, stored: () => registryItemOf(dynamodb, TARGET) };
}
