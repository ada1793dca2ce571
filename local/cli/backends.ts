import { GetCallerIdentityCommand, type STSClient } from "@aws-sdk/client-sts";
import { type ClientFactory, type Home, sdkClients } from "../../functions/lib/aws.ts";
import { type Config, readSettings } from "../../functions/lib/config.ts";
import { createRuntime, type StepRun } from "../../functions/lib/define-step.ts";
// --- Fleet view ---
import { type AccountRow, scanWholeFleet } from "../../functions/lib/fleet-view.ts";
import {
  REDIS_MIN_REQUEST_INTERVAL_MS,
  type RedisCloudSource,
  redisCloudFrom,
} from "../../functions/lib/redis-api-keys.ts";
import { RedisCloud } from "../../functions/lib/redis-cloud.ts";
import type { RegistrarHooks } from "../../functions/lib/registrar.ts";
import { DynamoRegistrarQueue } from "../../functions/lib/registrar-queue.ts";
import { Registry, type RegistryItem } from "../../functions/lib/registry.ts";
import type { AccessKeyCredentials } from "../../functions/verify-access-key.ts";
import { dynamoIntegrations } from "../aws/dynamodb.ts";
import { FakeAws } from "../aws/index.ts";
import {
  createLocalTables,
  HOME,
  type LocalEnvironment,
  type LocalEnvironmentOptions,
  localLockTable,
  REGISTRAR_TABLE,
  REGISTRY_TABLE,
  registryItemOf,
} from "../environment.ts";
import { stepRuns } from "../functions.ts";
import { LocalRegistrar, WAIT_FOR_TOKEN } from "../registrar.ts";
import { successorStandIn, syncChildStandIn } from "../sync-child.ts";
import {
  runOnboarding,
  runWorkflow,
  type WorkflowName,
  type WorkflowOptions,
  type WorkflowResult,
} from "../workflow.ts";
import { UsageError } from "./args.ts";
import { localFleet } from "./status.ts";

type Services = NonNullable<WorkflowOptions["services"]>;

/** Where a run happens: everything the command does differently between local and live. */
export interface Backend {
  mode: "local" | "live";
  /** The account the workflow runs from; its Secrets Manager keeps the credentials secret. */
  home: Home;
  /** The code of each function, by name, and the stand-ins of service integrations (--fail-at replaces one). */
  runs: Record<string, StepRun<unknown>>;
  services: Services;
  run(
    input: unknown,
    options: Pick<WorkflowOptions, "runs" | "services" | "onEvent" | "executionName">,
  ): Promise<WorkflowResult>;
  /** Everything AWS holds, to prove a rollback restored it; only the in-memory AWS can tell. */
  snapshot?: () => unknown;
  /** The account's registry item, for the summary. */
  registry?: (accountId: string) => Promise<RegistryItem | undefined>;
  // --- Fleet view ---
  /** Every account of the registry the run wrote, as GET /accounts shows them (--status). */
  fleet?: () => Promise<AccountRow[]>;
  close(): Promise<void>;
  // Credential rotation (`--rotate`): the rotation workflow with the same wiring.
  rotate?: Backend["run"];
  // --- Bulk onboarding (local/cli/bulk.ts) ---
  /** Any workflow with the same wiring (the bulk onboarding and the onboardings it starts). */
  runWorkflow?: (
    name: WorkflowName,
    input: unknown,
    options: Partial<WorkflowOptions>,
  ) => Promise<WorkflowResult>;
  /** Executions waiting on the registrar's answer. */
  waitingAtRedis?: () => number;
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
    services: env.services,
    run: (input, options) => env.run(input, { ...options, pauseMs: LOCAL_PAUSE_MS }),
    snapshot: () => env.aws.snapshot(),
    registry: async (accountId) => registryItemOf(env.dynamodb, accountId),
    // --- Fleet view ---
    fleet: async () => localFleet(env.dynamodb),
    close: () => env.close(),
    rotate: (input, options) => env.runWorkflow("rotation", input, { ...options, pauseMs: LOCAL_PAUSE_MS }),
    // --- Offboarding ---
    runWorkflow: (name, input, options) =>
      env.runWorkflow(name, input, { ...options, pauseMs: LOCAL_PAUSE_MS }),
  };
}

type Env = Record<string, string | undefined>;

/** The registrar's budget in runs from this machine: the deployment's default. */
const REDIS_BUDGET_PER_MINUTE = 360;

/** What a run against AWS's own endpoints (AWS itself, or an emulator at AWS_ENDPOINT_URL) is made of. */
export interface AwsWiring {
  /** SDK clients of the default chain; they honour AWS_ENDPOINT_URL. */
  clients: ClientFactory;
  config: Config;
  redis: RedisCloudSource;
  services: Services;
  /** An STS client that signs with the new user's key (default: a plain client in the home region). */
  stsFor?: (credentials: AccessKeyCredentials, home: Home) => STSClient;
  /** Pause of every Retry and Wait (unset: the definition's own backoff, jitter and waits, as in AWS). */
  pauseMs?: number;
  /** The account registry's table (unset: one in memory, for this run only). */
  registryTable?: string;
  /** Where the in-process registrar reaches Redis (the same API as `redis`). */
  registrarRedis: RegistrarHooks["redis"];
  notice?: (text: string) => void;
}

/**
 * The workflow with the real step code and real SDK clients: the caller's account (STS) is home.
 * Used by --live, and by the conformance suite against an AWS emulator.
 */
export async function awsBackend(wiring: AwsWiring): Promise<Backend> {
  const home = await callerHome(wiring.clients.sts());
  const registry = awsRegistry(wiring, home);
  const { stsFor } = wiring;
  const clients: ClientFactory = stsFor
    ? {
        ...registry.clients,
        sts: (credentials) =>
          credentials ? stsFor(credentials as AccessKeyCredentials, home) : registry.clients.sts(),
      }
    : registry.clients;
  const config = { ...wiring.config, registryTableName: registry.table };
  const runtime = createRuntime(home, clients, config, wiring.redis);
  const runs = stepRuns();
  // The registrar runs in this process, its queue in memory: the deployed one answers only the
  // deployed state machine's tokens.
  const queueHome = new FakeAws();
  createLocalTables(queueHome.addAccount(home.accountId).dynamodb);
  const registrar = new LocalRegistrar({
    redis: wiring.registrarRedis,
    queue: new DynamoRegistrarQueue(queueHome.clients(home).dynamodb(), REGISTRAR_TABLE),
    // A test's quick run (pauseMs) ticks without pauses and asks a refused key again at once.
    ...(wiring.pauseMs === undefined ? {} : { pauseMs: wiring.pauseMs, settings: { refusalPauseMs: 0 } }),
    perMinute: REDIS_BUDGET_PER_MINUTE,
  });
  registrar.runs = runs;
  runtime.registrar = registrar.hooks();
  registrar.attach(runtime);
  const pause = wiring.pauseMs === undefined ? {} : { pauseMs: wiring.pauseMs };
  return {
    mode: "live",
    home,
    runs,
    // Without a deployed stack there is no lock table: the lock holds within this process only.
    services: {
      ...dynamoIntegrations(localLockTable()),
      [WAIT_FOR_TOKEN]: async (parameters, run) => {
        if (!run) throw new Error(`${WAIT_FOR_TOKEN} needs the run's code`);
        registrar.runs = run.runs;
        return registrar.invokeAndWait(parameters as never, run.invoke);
      },
      ...wiring.services,
    },
    run: (input, options) => runOnboarding(input, { runtime, ...pause, ...options }),
    rotate: (input, options) => runWorkflow("rotation", input, { runtime, ...pause, ...options }),
    registry: (accountId) =>
      new Registry(clients.dynamodb(), registry.table, "Summary").get(accountId).catch(() => undefined),
    // --- Fleet view ---
    fleet: () => scanWholeFleet(clients.dynamodb(), registry.table),
    close: async () => {},
    // --- Bulk onboarding: each account's onboarding runs here as the Map's child ---
    runWorkflow: (name, input, options) =>
      runWorkflow(name, input, {
        runtime,
        runs,
        ...pause,
        ...options,
        services: {
          ...dynamoIntegrations(localLockTable()),
          [WAIT_FOR_TOKEN]: async (parameters, run) => {
            if (!run) throw new Error(`${WAIT_FOR_TOKEN} needs the run's code`);
            return registrar.invokeAndWait(parameters as never, run.invoke);
          },
          "arn:aws:states:::states:startExecution.sync:2": syncChildStandIn(home),
          // --- Reconcile: its Relay's successor, run here to its end ---
          "arn:aws:states:::states:startExecution": successorStandIn(home),
          ...wiring.services,
          ...options.services,
        },
      }),
    waitingAtRedis: () => registrar.waiting,
  };
}

/**
 * The deployed stack's registry when its table is named; otherwise one in this process, as the
 * lock is: the run records and rolls back the same way, and nothing outlives it.
 */
function awsRegistry(wiring: AwsWiring, home: Home): { clients: ClientFactory; table: string } {
  if (wiring.registryTable) return { clients: wiring.clients, table: wiring.registryTable };
  wiring.notice?.("  (no REGISTRY_TABLE_NAME: the account registry is kept in memory for this run only)");
  const memory = new FakeAws();
  createLocalTables(memory.addAccount(home.accountId).dynamodb);
  const local = memory.clients(home);
  return { clients: { ...wiring.clients, dynamodb: () => local.dynamodb() }, table: REGISTRY_TABLE };
}

/**
 * Real AWS through the default credential chain, the caller's account as home, and the real
 * Redis Cloud API. Events are not published: that is the deployed stack's job, and its consumers
 * would take a laptop's run for it.
 */
export function liveBackend(
  settings: { env: Env; config: Config; apiKeysSecret: string | undefined },
  notice: (text: string) => void,
): Promise<Backend> {
  const redis = liveRedisCloud(settings.env, settings.apiKeysSecret);
  const registrarRedis = liveRegistrarRedis(settings.env, settings.apiKeysSecret);
  const services = {
    "arn:aws:states:::events:putEvents": async () =>
      notice("  (events are published only by the deployed stack: skipped)"),
  };
  const registryTable = settings.env.REGISTRY_TABLE_NAME?.trim()
    ? readSettings(["registryTableName"], settings.env).registryTableName
    : undefined;
  return awsBackend({
    clients: sdkClients(),
    config: settings.config,
    redis,
    registrarRedis,
    services,
    notice,
    ...(registryTable ? { registryTable } : {}),
  });
}

/** The registrar's way to Redis in a live run: the keys at hand, or the secret holding them. */
function liveRegistrarRedis(env: Env, apiKeysSecret: string | undefined): RegistrarHooks["redis"] {
  const { apiUrl: baseUrl } = readSettings(["apiUrl"], { REDIS_CLOUD_API_URL: env.REDIS_CLOUD_API_URL });
  if (apiKeysSecret !== undefined) return { baseUrl, apiKeysSecret };
  return {
    baseUrl,
    keys: {
      accountKey: env.REDIS_CLOUD_ACCOUNT_KEY?.trim() ?? "",
      userKey: env.REDIS_CLOUD_USER_KEY?.trim() ?? "",
    },
  };
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
  // Without one the SDK says only "Region is missing": name the setting and the fix.
  const region = await sts.config.region().catch(() => undefined);
  if (!region) {
    throw new UsageError(
      "--live needs an AWS region: set AWS_REGION (e.g. AWS_REGION=us-east-1 npm start -- --live) or region in your AWS profile",
    );
  }
  const identity = await sts.send(new GetCallerIdentityCommand({}));
  const partition = identity.Arn?.split(":")[1];
  if (!identity.Account || !partition) throw new Error("STS GetCallerIdentity did not name the account");
  return { partition, region, accountId: identity.Account };
}
