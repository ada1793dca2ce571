import { randomBytes } from "node:crypto";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import type { Home } from "../functions/lib/aws.ts";
import { loadConfig } from "../functions/lib/config.ts";
import { createRuntime, type Runtime, type StepRun } from "../functions/lib/define-step.ts";
import { redisCloudFrom } from "../functions/lib/redis-api-keys.ts";
import type { RegistrarSettings } from "../functions/lib/registrar.ts";
import { parseItem, type RegistryItem } from "../functions/lib/registry.ts";
import { dynamoIntegrations, FakeDynamoDB } from "./aws/dynamodb.ts";
import { FakeAws, type FakeAwsOptions } from "./aws/index.ts";
import { stepRuns } from "./functions.ts";
import {
  createLocalRedisCloud,
  type LocalRedisCloud,
  type LocalRedisCloudOptions,
  startLocalRedisCloud,
} from "./redis-cloud/server.ts";
import { LocalRegistrar, WAIT_FOR_TOKEN } from "./registrar.ts";
import { successorStandIn, syncChildStandIn } from "./sync-child.ts";
import {
  runOnboarding,
  runWorkflow,
  type WorkflowName,
  type WorkflowOptions,
  type WorkflowResult,
} from "./workflow.ts";

export const HOME: Home = { partition: "aws", region: "us-east-1", accountId: "111111111111" };
export const API_KEYS_SECRET = "redis-cloud/api-keys";

/**
 * The deployment's settings that name its own resources, as serverless.yml would set them: the
 * credentials secrets are readable only by the functions that read them (and no reader role).
 */
export const LOCAL_SETTINGS = {
  // Credential rotation's readers (rotateCreateKey, rotateUndo) last.
  SECRET_READER_ARNS: ["ensureUser", "verifyAccessKey", "registrarTick", "rotateCreateKey", "rotateUndo"]
    .map((fn) => `arn:aws:iam::111111111111:role/redis-cloud-byoc-local-${fn}-us-east-1-lambdaRole`)
    .join(","),
};
/** The per-account lock table, named locally by its logical id in serverless.yml. */
export const LOCK_TABLE = "AccountLocksTable";
/** The account registry's table, named locally by its logical id in serverless.yml too. */
export const REGISTRY_TABLE = "AccountRegistryTable";
/** The registrar's queue, named locally by its logical id in serverless.yml too. */
export const REGISTRAR_TABLE = "RegistrarTable";
/** The roles an account made by Organizations or Control Tower has for its management account. */
export const ACCESS_ROLES = ["OrganizationAccountAccessRole", "AWSControlTowerExecution"];

/** One set of local API keys per process: the steps cache keys by secret name, as a warm Lambda does. */
const LOCAL_KEYS = { accountKey: randomBytes(16).toString("hex"), userKey: randomBytes(24).toString("hex") };

export interface LocalEnvironmentOptions {
  /** Accounts to onboard besides the home one; each gets the access roles. */
  targets?: string[];
  aws?: FakeAwsOptions;
  redis?: Omit<LocalRedisCloudOptions, "keys" | "isKeyPropagated"> & {
    /** No socket: the steps reach the local API through its in-process fetch (e.g. on a virtual clock). */
    inProcess?: boolean;
  };
  /**
   * The registrar's pauses and budget. By default it ticks as fast as it can with no budget (the
   * local API's tasks move only when polled); a benchmark on a virtual clock sets them as deployed.
   */
  registrar?: {
    /** Pauses as the registrar asks (on the runner's clock, real or virtual), not at once. */
    timed?: boolean;
    perMinute?: number;
    settings?: Partial<RegistrarSettings>;
  };
}

export interface LocalEnvironment {
  aws: FakeAws;
  redis: LocalRedisCloud;
  runtime: Runtime;
  runs: Record<string, StepRun<unknown>>;
  /** The service integrations' stand-ins (EventBridge, DynamoDB), by resource ARN. */
  services: NonNullable<WorkflowOptions["services"]>;
  /** The home account's in-memory DynamoDB: the lock table and the registry table. */
  dynamodb: FakeDynamoDB;
  /** Every event the workflow published (the default event bus). */
  published: unknown[];
  /** The API keys, for scans that prove they appear nowhere. */
  apiKeys: { accountKey: string; userKey: string };
  /** The registrar's engine: its loops and the executions waiting on it. */
  registrar: LocalRegistrar;
  run(input: unknown, options?: Partial<WorkflowOptions>): Promise<WorkflowResult>;
  /** Runs any of the workflows (statemachine/<name>.asl.yml) with the same code and stand-ins. */
  runWorkflow(
    name: WorkflowName,
    input: unknown,
    options?: Partial<WorkflowOptions>,
  ): Promise<WorkflowResult>;
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
  // --- Fleet metrics ---
  // The fleet's numbers are written at once as EMF lines on stdout, for CloudWatch: off in local
  // runs, whose stdout is their own (POWERTOOLS_METRICS_DISABLED=false shows them).
  process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
  // Date.now read on each call, so that AWS follows a virtual clock installed after it was made.
  const aws = new FakeAws({ now: () => Date.now(), ...options.aws });
  const clients = aws.clients(HOME);
  for (const target of options.targets ?? []) aws.addAccount(target, { roles: ACCESS_ROLES });
  const { inProcess = false, ...redisOptions } = options.redis ?? {};
  const redisSettings: LocalRedisCloudOptions = {
    ...redisOptions,
    keys: LOCAL_KEYS,
    isKeyPropagated: (accessKeyId) => keyAgeMs(aws, accessKeyId) >= aws.keyPropagationMs,
  };
  const redis = inProcess ? createLocalRedisCloud(redisSettings) : await startLocalRedisCloud(redisSettings);
  await clients
    .secrets()
    .send(new CreateSecretCommand({ Name: API_KEYS_SECRET, SecretString: JSON.stringify(LOCAL_KEYS) }));
  // No pacing: the local API has no rate limit to keep under.
  const source = redisCloudFrom(
    { apiKeysSecret: API_KEYS_SECRET, apiUrl: redis.url },
    { minIntervalMs: 0, ...(inProcess ? { fetch: redis.fetch } : {}) },
  );
  // The functions reach the registry through the home account's DynamoDB, as the state machine
  // reaches the lock: one in-memory DynamoDB holds both tables.
  const dynamodb = createLocalTables(aws.account(HOME.accountId).dynamodb);
  const config = {
    ...loadConfig(LOCAL_SETTINGS),
    registryTableName: REGISTRY_TABLE,
    registrarTableName: REGISTRAR_TABLE,
    apiKeysSecret: API_KEYS_SECRET,
    apiUrl: redis.url,
    redisRequestsPerMinute: 400,
    registrarMaxInFlight: 2,
  };
  const runtime = createRuntime(HOME, clients, config, source);
  const runs = stepRuns();
  const registrar = new LocalRegistrar({
    redis: { baseUrl: redis.url, ...(inProcess ? { fetch: redis.fetch } : {}) },
    ...(options.registrar?.timed ? {} : { pauseMs: 0 }),
    perMinute: options.registrar?.perMinute ?? Number.MAX_SAFE_INTEGER,
    // At once, a refused key is asked again at once: the in-memory IAM propagates on its own clock.
    settings: { ...(options.registrar?.timed ? {} : { refusalPauseMs: 0 }), ...options.registrar?.settings },
  });
  registrar.runs = runs;
  runtime.registrar = registrar.hooks();
  registrar.attach(runtime);
  const published: unknown[] = [];
  const services: LocalEnvironment["services"] = {
    "arn:aws:states:::events:putEvents": async (request) => void published.push(request),
    // The registrar's code is the run's (tests wrap it): it follows the run that hands over.
    [WAIT_FOR_TOKEN]: async (parameters, run) => {
      if (!run) throw new Error(`${WAIT_FOR_TOKEN} needs the run's code`);
      registrar.runs = run.runs;
      return registrar.invokeAndWait(parameters as never, run.invoke);
    },
    // Step Functions' own integration: the child (named by its Ref) runs here to its end, as the
    // parent runs, and fails the state as States.TaskFailed with the child's error in the cause
    // (the same stand-in as the CLI's live backend).
    "arn:aws:states:::states:startExecution.sync:2": syncChildStandIn(HOME),
    ...dynamoIntegrations(dynamodb),
    // --- Reconcile: its Relay starts a fresh execution of the same machine ---
    "arn:aws:states:::states:startExecution": successorStandIn(HOME),
  };
  return {
    aws,
    redis,
    runtime,
    runs,
    services,
    dynamodb,
    published,
    apiKeys: LOCAL_KEYS,
    registrar,
    run: (input, more) => runOnboarding(input, { runtime, runs, services, pauseMs: 0, ...more }),
    runWorkflow: (name, input, more) =>
      runWorkflow(name, input, { runtime, runs, services, pauseMs: 0, ...more }),
    close: () => redis.close(),
  };
}

/** How long ago IAM made the key; an unknown key counts as never propagated. */
function keyAgeMs(aws: FakeAws, accessKeyId: string): number {
  const key = aws.findAccessKey(accessKeyId);
  return key ? aws.now().getTime() - key.CreateDate.getTime() : Number.NEGATIVE_INFINITY;
}

/** An in-memory DynamoDB with the lock table of serverless.yml (AccountLocksTable: accountId, S). */
export function localLockTable(dynamodb = new FakeDynamoDB()): FakeDynamoDB {
  dynamodb.createTable(LOCK_TABLE, { partitionKey: { name: "accountId", type: "S" } });
  return dynamodb;
}

/** Both tables of serverless.yml, keyed as there (accountId, S). */
export function createLocalTables(dynamodb: FakeDynamoDB): FakeDynamoDB {
  localLockTable(dynamodb);
  dynamodb.createTable(REGISTRY_TABLE, { partitionKey: { name: "accountId", type: "S" } });
  dynamodb.createTable(REGISTRAR_TABLE, { partitionKey: { name: "id", type: "S" } });
  return dynamodb;
}

/** The account's registry item as plain data (undefined when there is none), for summaries and tests. */
export function registryItemOf(dynamodb: FakeDynamoDB, accountId: string): RegistryItem | undefined {
  // Read from the table itself, not through GetItem: a look from outside is no call of the run's.
  const stored = dynamodb
    .items(REGISTRY_TABLE)
    .find((item) => JSON.stringify(item.accountId) === JSON.stringify({ S: accountId }));
  return stored ? parseItem(accountId, stored as Record<string, AttributeValue>) : undefined;
}
