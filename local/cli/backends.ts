import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import { type Home, sdkClients } from "../../functions/lib/aws.ts";
import { type Config, readSettings } from "../../functions/lib/config.ts";
import { createRuntime, type StepRun } from "../../functions/lib/define-step.ts";
import {
  REDIS_MIN_REQUEST_INTERVAL_MS,
  type RedisCloudSource,
  redisCloudFrom,
} from "../../functions/lib/redis-api-keys.ts";
import { RedisCloud } from "../../functions/lib/redis-cloud.ts";
import { Registry, type RegistryItem } from "../../functions/lib/registry.ts";
import { dynamoIntegrations } from "../aws/dynamodb.ts";
import { FakeAws } from "../aws/index.ts";
import {
  createLocalTables,
  HOME,
  type LocalEnvironment,
  type LocalEnvironmentOptions,
  localLockTable,
  REGISTRY_TABLE,
  registryItemOf,
} from "../environment.ts";
import { stepRuns } from "../functions.ts";
import { runOnboarding, type WorkflowOptions, type WorkflowResult } from "../workflow.ts";
import { UsageError } from "./args.ts";

/** Where a run happens: everything the command does differently between local and live. */
export interface Backend {
  mode: "local" | "live";
  /** The account the workflow runs from; its Secrets Manager keeps the credentials secret. */
  home: Home;
  /** The code of each function, by name (a --fail-at run replaces one). */
  runs: Record<string, StepRun<unknown>>;
  run(input: unknown, options: Pick<WorkflowOptions, "runs" | "onEvent">): Promise<WorkflowResult>;
  /** Everything AWS holds, to prove a rollback restored it; only the in-memory AWS can tell. */
  snapshot?: () => unknown;
  /** The account's registry item, for the summary. */
  registry?: (accountId: string) => Promise<RegistryItem | undefined>;
  close(): Promise<void>;
}

/**
 * Locally a new key is refused for 1.5 s (IAM propagation) and every Retry and Wait pauses
 * 300 ms: VerifyAccessKey's retries show, and the whole run takes a few seconds.
 */
export const LOCAL_KEY_PROPAGATION_MS = 1500;
export const LOCAL_PAUSE_MS = 300;

export type StartLocal = (options: LocalEnvironmentOptions) => Promise<LocalEnvironment>;

export async function localBackend(account: string, start: StartLocal): Promise<Backend> {
  const env = await start({
    targets: account === HOME.accountId ? [] : [account],
    aws: { keyPropagationMs: LOCAL_KEY_PROPAGATION_MS },
  });
  return {
    mode: "local",
    home: HOME,
    runs: env.runs,
    run: (input, options) => env.run(input, { ...options, pauseMs: LOCAL_PAUSE_MS }),
    snapshot: () => env.aws.snapshot(),
    registry: async (accountId) => registryItemOf(env.dynamodb, accountId),
    close: () => env.close(),
  };
}

type Env = Record<string, string | undefined>;

/**
 * Real AWS through the default credential chain, the caller's account as home, and the real
 * Redis Cloud API. The only difference from the local path is this wiring. Events are not
 * published: that is the deployed stack's job, and its consumers would take a laptop's run for it.
 */
export async function liveBackend(
  settings: { env: Env; config: Config; apiKeysSecret: string | undefined },
  notice: (text: string) => void,
): Promise<Backend> {
  const redis = liveRedisCloud(settings.env, settings.apiKeysSecret);
  const clients = sdkClients();
  const home = await callerHome(clients.sts());
  const registry = liveRegistry(settings.env, home, notice);
  const config = { ...settings.config, registryTableName: registry.table };
  const runtime = createRuntime(home, registry.clients, config, redis);
  const runs = stepRuns();
  const services = {
    "arn:aws:states:::events:putEvents": async () =>
      notice("  (events are published only by the deployed stack: skipped)"),
    // Without a deployed stack there is no lock table: the lock holds within this process only.
    ...dynamoIntegrations(localLockTable()),
  };
  return {
    mode: "live",
    home,
    runs,
    // No pause override: the definition's own backoff, jitter and waits apply, as in AWS.
    run: (input, options) => runOnboarding(input, { runtime, services, ...options }),
    registry: (accountId) =>
      new Registry(registry.clients.dynamodb(), registry.table, "Summary")
        .get(accountId)
        .catch(() => undefined),
    close: async () => {},
  };
}

/**
 * The deployed stack's registry when REGISTRY_TABLE_NAME names its table; otherwise one in this
 * process, as the lock is: the run records and rolls back the same way, and nothing outlives it.
 */
function liveRegistry(env: Env, home: Home, notice: (text: string) => void) {
  const clients = sdkClients(home.region);
  if (env.REGISTRY_TABLE_NAME?.trim()) {
    return { clients, table: readSettings(["registryTableName"], env).registryTableName };
  }
  notice("  (no REGISTRY_TABLE_NAME: the account registry is kept in memory for this run only)");
  const memory = new FakeAws();
  createLocalTables(memory.addAccount(home.accountId).dynamodb);
  const local = memory.clients(home);
  return { clients: { ...clients, dynamodb: () => local.dynamodb() }, table: REGISTRY_TABLE };
}

/** Checks the Redis Cloud settings before anything is asked of AWS: a bad one is a usage error. */
export function liveRedisCloud(env: Env, apiKeysSecret: string | undefined): RedisCloudSource {
  const apiUrl = env.REDIS_CLOUD_API_URL;
  if (apiKeysSecret !== undefined) {
    // The deployed functions' own checks (a secret name or ARN, an https URL).
    return redisCloudFrom(
      readSettings(["apiKeysSecret", "apiUrl"], {
        REDIS_API_KEYS_SECRET: apiKeysSecret,
        REDIS_CLOUD_API_URL: apiUrl,
      }),
    );
  }
  const accountKey = env.REDIS_CLOUD_ACCOUNT_KEY?.trim();
  const userKey = env.REDIS_CLOUD_USER_KEY?.trim();
  if (!accountKey || !userKey) {
    throw new UsageError(
      "--live needs the Redis Cloud API keys: set REDIS_CLOUD_ACCOUNT_KEY and REDIS_CLOUD_USER_KEY, or pass --api-keys-secret <name>",
    );
  }
  // Same URL checks as the deployed functions; the secret name is a stand-in, the keys are at hand.
  const { apiUrl: baseUrl } = readSettings(["apiUrl"], { REDIS_CLOUD_API_URL: apiUrl });
  const keys = { accountKey, userKey };
  return async () => new RedisCloud({ baseUrl, keys, minIntervalMs: REDIS_MIN_REQUEST_INTERVAL_MS });
}

/** The caller's account and partition (STS), and the region of the default chain. */
async function callerHome(sts: STSClient): Promise<Home> {
  const identity = await sts.send(new GetCallerIdentityCommand({}));
  const partition = identity.Arn?.split(":")[1];
  if (!identity.Account || !partition) throw new Error("STS GetCallerIdentity did not name the account");
  return { partition, region: await sts.config.region(), accountId: identity.Account };
}
