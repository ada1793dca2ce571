import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import * as z from "zod";
import { lambdaClients } from "./clients.ts";
import { REDIS_SETTINGS, type SettingsOf } from "./config.ts";

type RedisSettings = SettingsOf<"apiKeysSecret" | "apiUrl">;

import type { AccountCredentials } from "./credentials-secret.ts";
import type { Runtime, StepContext } from "./define-step.ts";
import { describeAwsFailure, WorkflowError } from "./errors.ts";
import { parseJsonObject } from "./input.ts";
import { type RedisApiKeys, RedisCloud } from "./redis-cloud.ts";
import { isNotFound, StepInputSchema, type StepRecorder } from "./step.ts";

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
  const value = parseJsonObject(text);
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

const SECRET_ARN = /^arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+$/;

/** What the state machine hands the Redis Cloud steps. */
export const RedisStepInputSchema = StepInputSchema.extend({
  /** The secret EnsureUser wrote (its `secretArn`). */
  credentialsSecretArn: z
    .string({ error: "is required (the EnsureUser step's secretArn)" })
    .regex(SECRET_ARN, "must be a secret ARN (the EnsureUser step's secretArn)"),
  // Credential rotation: the version to read; unset, AWSCURRENT (Secrets Manager's default).
  versionStage: z.literal("AWSPENDING", { error: 'must be "AWSPENDING" when set' }).optional(),
});
export type RedisStepInput = z.output<typeof RedisStepInputSchema>;

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
  /** Credential rotation: the pending version; unset, the current one. */
  versionStage?: "AWSPENDING",
): Promise<Credentials<K>> {
  const answer = await rec.call("GetSecretValue", arn, () =>
    secrets.send(
      new GetSecretValueCommand({ SecretId: arn, ...(versionStage ? { VersionStage: versionStage } : {}) }),
    ),
  );
  const value = parseJsonObject(answer.SecretString) ?? {};
  const missing = fields.filter((field) => value[field] === undefined || value[field] === "");
  if (missing.length > 0) {
    throw new WorkflowError(
      "UnexpectedError",
      `${rec.step}: secret ${arn} lacks ${missing.join(", ")}; run the onboarding again so that EnsureUser rewrites it`,
    );
  }
  return value as Credentials<K>;
}

export const REDIS_MIN_REQUEST_INTERVAL_MS = 300;

/** Makes a client for one invocation, from the container's settings and cached keys. */
export type RedisCloudSource = (secrets: SecretsManagerClient, step: string) => Promise<RedisCloud>;

export interface RedisSourceOptions {
  fetch?: typeof fetch;
  /** Pause between two requests of one invocation (local runs: none). */
  minIntervalMs?: number;
}

/** Redis Cloud clients with the given settings; the API keys are read once per container. */
export function redisCloudFrom(config: RedisSettings, options: RedisSourceOptions = {}): RedisCloudSource {
  return async (secrets, step) => {
    const keys = await cachedRedisApiKeys(secrets, config.apiKeysSecret, step);
    return new RedisCloud({
      baseUrl: config.apiUrl,
      keys,
      // Register and check run with reserved concurrency 1 each: 2 × 60 s / 300 ms = 400 requests
      // a minute at most for the whole deployment, Redis's limit per API key.
      minIntervalMs: options.minIntervalMs ?? REDIS_MIN_REQUEST_INTERVAL_MS,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  };
}

export interface RedisStepDeps {
  secrets: SecretsManagerClient;
  redis: RedisCloud;
}

/** The Redis Cloud client of this runtime: its own source, else one from its settings. */
export function redisCloudOf(
  runtime: Pick<Runtime<RedisSettings>, "redis" | "config" | "clients">,
  step: string,
): Promise<RedisCloud> {
  runtime.redis ??= redisCloudFrom(runtime.config);
  return runtime.redis(runtime.clients.secrets(), step);
}

/**
 * What every step calling Redis Cloud shares: its settings, Secrets Manager (the API keys, the
 * account's credentials) and the failure rule below.
 */
export const redisStep = {
  settings: REDIS_SETTINGS,
  clients: lambdaClients({ secrets: SecretsManagerClient }),
  deps: async ({ runtime, step }: StepContext<unknown, RedisSettings>): Promise<RedisStepDeps> => ({
    secrets: runtime.clients.secrets(),
    redis: await redisCloudOf(runtime, step),
  }),
  onError: (error: WorkflowError): void => {
    // Refused keys may have been rotated in the secret: the next invocation reads them again.
    if (error.name === "RedisCloudUnauthorized") forgetRedisApiKeys();
  },
};
