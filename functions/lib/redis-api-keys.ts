import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { loadRedisCloudConfig, type RedisCloudConfig } from "./config.ts";
import type { AccountCredentials } from "./credentials-secret.ts";
import { describeAwsFailure, invalidInput, WorkflowError } from "./errors.ts";
import { logger, parseStepInput, type StepRun } from "./handler.ts";
import { type RedisApiKeys, RedisCloud } from "./redis-cloud.ts";
import { isNotFound, type StepInput, type StepRecorder } from "./step.ts";

/*
 * What the Redis Cloud steps read from Secrets Manager (the API keys, the account's credentials)
 * and how their Lambda code gets a Redis Cloud client. No value read here is ever logged or put
 * into an error: messages name secrets and fields only.
 */

const KEYS_FORMAT = `{"accountKey": "<API account key>", "userKey": "<API user key>"}`;

/** Reads the API keys; a missing or malformed secret says what it must hold. */
export async function readRedisApiKeys(
  secrets: SecretsManagerClient,
  secretId: string,
  step = "RedisCloud",
): Promise<RedisApiKeys> {
  let text: string | undefined;
  try {
    text = (await secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (error) {
    if (!isNotFound(error)) throw describeAwsFailure(step, "GetSecretValue", secretId, error);
    throw keysProblem(secretId, "does not exist");
  }
  const value = parseObject(text);
  if (!value) throw keysProblem(secretId, "is not a JSON object");
  const missing = (["accountKey", "userKey"] as const).filter(
    (field) => typeof value[field] !== "string" || (value[field] as string).trim() === "",
  );
  if (missing.length > 0) throw keysProblem(secretId, `lacks ${missing.join(" and ")}`);
  return { accountKey: (value.accountKey as string).trim(), userKey: (value.userKey as string).trim() };
}

function keysProblem(secretId: string, problem: string): WorkflowError {
  return new WorkflowError(
    "RedisCloudUnauthorized",
    `Redis Cloud API keys secret ${secretId} ${problem}: it must hold ${KEYS_FORMAT} (setting REDIS_API_KEYS_SECRET)`,
  );
}

/** Per container: a warm Lambda reads the keys once. A failed read is not kept. */
const cache = new Map<string, Promise<RedisApiKeys>>();

export function cachedRedisApiKeys(
  secrets: SecretsManagerClient,
  secretId: string,
  step?: string,
): Promise<RedisApiKeys> {
  let keys = cache.get(secretId);
  if (!keys) {
    keys = readRedisApiKeys(secrets, secretId, step);
    cache.set(secretId, keys);
    keys.catch(() => cache.delete(secretId));
  }
  return keys;
}

/** Drops the cached keys, so that keys rotated in the secret are read again. */
export function forgetRedisApiKeys(): void {
  cache.clear();
}

/** What the state machine hands the Redis Cloud steps. */
export interface RedisStepInput extends StepInput {
  /** The secret EnsureUser wrote (its `secretArn`). */
  credentialsSecretArn: string;
}

const SECRET_ARN = /^arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+$/;

export function parseRedisStepInput(event: unknown): RedisStepInput & Record<string, unknown> {
  const input = parseStepInput(event) as StepInput & Record<string, unknown>;
  const arn = input.credentialsSecretArn;
  if (typeof arn !== "string" || !SECRET_ARN.test(arn)) {
    throw invalidInput(
      "credentialsSecretArn",
      "missing or not a secret ARN (the EnsureUser step's secretArn)",
    );
  }
  return { ...input, credentialsSecretArn: arn };
}

type Credentials<K extends keyof AccountCredentials> = Partial<AccountCredentials> &
  Pick<AccountCredentials, K> &
  Record<string, unknown>;

/**
 * The account's credentials secret, with the fields a step needs checked present. The whole
 * value is returned (unknown fields too), so that a step rewriting it keeps everything.
 */
export async function readAccountCredentials<K extends keyof AccountCredentials>(
  secrets: SecretsManagerClient,
  arn: string,
  rec: StepRecorder,
  fields: readonly K[],
): Promise<Credentials<K>> {
  const answer = await rec.call("GetSecretValue", arn, () =>
    secrets.send(new GetSecretValueCommand({ SecretId: arn })),
  );
  const value = parseObject(answer.SecretString) ?? {};
  const missing = fields.filter((field) => value[field] === undefined || value[field] === "");
  if (missing.length > 0) {
    throw new WorkflowError(
      "UnexpectedError",
      `${rec.step}: secret ${arn} lacks ${missing.join(", ")}; run the onboarding again so that EnsureUser rewrites it`,
    );
  }
  return value as Credentials<K>;
}

/** JSON.parse's own message quotes the text: never let it out. */
function parseObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export const REDIS_MIN_REQUEST_INTERVAL_MS = 300;

/** Makes a client for one invocation, from the container's settings and cached keys. */
export type RedisCloudSource = (secrets: SecretsManagerClient, step: string) => Promise<RedisCloud>;

/**
 * Settings are read at the first invocation, not at import: the step modules are also imported
 * by tests and the local runner, where REDIS_API_KEYS_SECRET is not set. A bad setting still
 * fails that first invocation with ConfigurationError naming it.
 */
export function redisCloudFromEnv(
  env: Record<string, string | undefined> = process.env,
  fetchImpl?: typeof fetch,
  minIntervalMs = REDIS_MIN_REQUEST_INTERVAL_MS,
): RedisCloudSource {
  let config: RedisCloudConfig | undefined;
  return async (secrets, step) => {
    config ??= loadRedisCloudConfig(env);
    const keys = await cachedRedisApiKeys(secrets, config.apiKeysSecret, step);
    return new RedisCloud({
      baseUrl: config.apiUrl,
      keys,
      // Register and check run with reserved concurrency 1 each: 2 × 60 s / 300 ms = 400 requests
      // a minute at most for the whole deployment, Redis's limit per API key.
      minIntervalMs,
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  };
}

export interface RedisStepDeps {
  secrets: SecretsManagerClient;
  redis: RedisCloud;
}

/** The environment-agnostic code of a Redis Cloud step, like iamStep for the IAM steps. */
export function redisStep<I extends RedisStepInput, R>(
  step: string,
  parse: (event: unknown) => I,
  core: (input: I, deps: RedisStepDeps) => Promise<R>,
  source: RedisCloudSource,
): StepRun<R> {
  return async (event, runtime) => {
    const input = parse(event);
    const secrets = runtime.clients.secrets();
    try {
      const result = await core(input, { secrets, redis: await source(secrets, step) });
      logger.info("step done", { step, accountId: input.target.accountId, result });
      return result;
    } catch (error) {
      // Refused keys may have been rotated in the secret: the next invocation reads them again.
      if (error instanceof WorkflowError && error.name === "RedisCloudUnauthorized") forgetRedisApiKeys();
      // The execution's cause must name the step, whichever layer made the error.
      if (error instanceof Error && !error.message.startsWith(`${step}:`))
        error.message = `${step}: ${error.message}`;
      throw error;
    }
  };
}
