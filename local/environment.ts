import { randomBytes } from "node:crypto";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import type { Home } from "../functions/lib/aws.ts";
import { loadConfig } from "../functions/lib/config.ts";
import { createRuntime, type Runtime, type StepRun } from "../functions/lib/handler.ts";
import { MemoryLockStore } from "../functions/lib/lock-store.ts";
import { redisCloudFromEnv } from "../functions/lib/redis-api-keys.ts";
import { FakeAws, type FakeAwsOptions } from "./aws/index.ts";
import { stepRuns } from "./functions.ts";
import {
  type LocalRedisCloud,
  type LocalRedisCloudOptions,
  startLocalRedisCloud,
} from "./redis-cloud/server.ts";
import { runOnboarding, type WorkflowOptions, type WorkflowResult } from "./workflow.ts";

export const HOME: Home = { partition: "aws", region: "us-east-1", accountId: "111111111111" };
export const API_KEYS_SECRET = "redis-cloud/api-keys";
/** The roles an account made by Organizations or Control Tower has for its management account. */
export const ACCESS_ROLES = ["OrganizationAccountAccessRole", "AWSControlTowerExecution"];

/** One set of local API keys per process: the steps cache keys by secret name, as a warm Lambda does. */
const LOCAL_KEYS = { accountKey: randomBytes(16).toString("hex"), userKey: randomBytes(24).toString("hex") };

export interface LocalEnvironmentOptions {
  /** Accounts to onboard besides the home one; each gets the access roles. */
  targets?: string[];
  aws?: FakeAwsOptions;
  redis?: Omit<LocalRedisCloudOptions, "keys" | "isKeyPropagated">;
}

export interface LocalEnvironment {
  aws: FakeAws;
  redis: LocalRedisCloud;
  runtime: Runtime;
  runs: Record<string, StepRun<unknown>>;
  /** The stand-ins of the service integrations, by resource ARN (a --fail-at run replaces one). */
  services: NonNullable<WorkflowOptions["services"]>;
  /** Every event the workflow published (the default event bus). */
  published: unknown[];
  /** The API keys, for scans that prove they appear nowhere. */
  apiKeys: { accountKey: string; userKey: string };
  run(input: unknown, options?: Partial<WorkflowOptions>): Promise<WorkflowResult>;
  close(): Promise<void>;
}

/**
 * Everything the onboarding talks to, on this machine: an in-memory AWS (home account + targets)
 * and the local Redis Cloud API, whose keys are in the home account's Secrets Manager as they
 * would be in a deployment. Redis accepts a key only once the in-memory IAM has propagated it.
 */
export async function startLocalEnvironment(
  options: LocalEnvironmentOptions = {},
): Promise<LocalEnvironment> {
  const aws = new FakeAws(options.aws);
  const clients = aws.clients(HOME);
  for (const target of options.targets ?? []) aws.addAccount(target, { roles: ACCESS_ROLES });
  const redis = await startLocalRedisCloud({
    ...options.redis,
    keys: LOCAL_KEYS,
    isKeyPropagated: (accessKeyId) => keyAgeMs(aws, accessKeyId) >= aws.keyPropagationMs,
  });
  await clients
    .secrets()
    .send(new CreateSecretCommand({ Name: API_KEYS_SECRET, SecretString: JSON.stringify(LOCAL_KEYS) }));
  const runtime = createRuntime(HOME, clients, loadConfig({}));
  const source = redisCloudFromEnv(
    { REDIS_API_KEYS_SECRET: API_KEYS_SECRET, REDIS_CLOUD_API_URL: redis.url },
    undefined,
    0,
  );
  const runs = stepRuns({
    redis: source,
    stsFor: (credentials) => clients.sts(credentials),
    locks: new MemoryLockStore(),
  });
  const published: unknown[] = [];
  const services = {
    "arn:aws:states:::events:putEvents": async (request: unknown) => void published.push(request),
  };
  return {
    aws,
    redis,
    runtime,
    runs,
    services,
    published,
    apiKeys: LOCAL_KEYS,
    run: (input, more) =>
      runOnboarding(input, {
        runtime,
        runs,
        services,
        pauseMs: 0,
        ...more,
      }),
    close: () => redis.close(),
  };
}

/** How long ago IAM made the key; an unknown key counts as never propagated. */
function keyAgeMs(aws: FakeAws, accessKeyId: string): number {
  const key = aws.findAccessKey(accessKeyId);
  return key ? aws.now().getTime() - key.CreateDate.getTime() : Number.NEGATIVE_INFINITY;
}
