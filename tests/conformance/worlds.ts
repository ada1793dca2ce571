import { randomBytes } from "node:crypto";
import { CreateRoleCommand, type IAMClient } from "@aws-sdk/client-iam";
import { CreateSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { AssumeRoleCommand, STSClient } from "@aws-sdk/client-sts";
import { type ClientFactory, type Home, sdkClients } from "../../functions/lib/aws.ts";
import { loadConfig } from "../../functions/lib/config.ts";
import { forgetRedisApiKeys, redisCloudFrom } from "../../functions/lib/redis-api-keys.ts";
import type { AccessKeyCredentials } from "../../functions/verify-access-key.ts";
import { FakeAws } from "../../local/aws/index.ts";
import { awsBackend, type Backend } from "../../local/cli/backends.ts";
import { failableState, failingAt } from "../../local/cli/fail-at.ts";
import { API_KEYS_SECRET, LOCAL_SETTINGS } from "../../local/environment.ts";
import { type LocalRedisCloud, startLocalRedisCloud } from "../../local/redis-cloud/server.ts";
import type { WorkflowName, WorkflowResult } from "../../local/workflow.ts";

/*
 * One scenario, two AWSes: the in-memory fake and moto_server. Both are driven by the same code,
 * `awsBackend` (what `npm start -- --live` runs), with only the SDK clients differing; the Redis
 * Cloud side is the local API in both.
 */

export type BackendName = "in-memory" | "moto";
export const TARGET = "222222222222";
export const ACCESS_ROLE = "OrganizationAccountAccessRole";
/** One set of API keys for the process: the steps cache keys by secret name. */
const KEYS = { accountKey: randomBytes(16).toString("hex"), userKey: randomBytes(24).toString("hex") };

export interface World {
  backend: BackendName;
  home: Home;
  /** Every AWS call the workflow's steps made, as `service Command` or `service Command -> Error`. */
  calls: string[];
  redis: LocalRedisCloud;
  published: unknown[];
  run(input: unknown, options: { executionName: string; failAt?: string }): Promise<WorkflowResult>;
  /** Another workflow (a rotation, an offboarding) with the same wiring, as `--live` runs it. */
  runWorkflow(
    name: WorkflowName,
    input: unknown,
    options: { executionName: string },
  ): Promise<WorkflowResult>;
  /** An IAM client acting in the account (through its access role for another one); not recorded. */
  iamIn(accountId: string): Promise<IAMClient>;
  /** The home account's Secrets Manager and STS; not recorded. */
  secrets(): SecretsManagerClient;
  sts(): STSClient;
  close(): Promise<void>;
}

type Service = "iam" | "sts" | "secretsmanager" | "dynamodb" | "organizations";
type Stack = {
  middlewareStack: {
    add(
      m: (
        next: (a: unknown) => Promise<unknown>,
        c: { commandName?: string },
      ) => (a: unknown) => Promise<unknown>,
      o: object,
    ): void;
  };
};

/** Clients already recorded: the default factory hands out one STS and one Secrets Manager client. */
const recording = new WeakSet<object>();

/** Logs each command as the steps send it, outside the SDK's retries: one entry per command. */
function recorded<C extends object>(client: C, log: string[], service: Service): C {
  if (recording.has(client)) return client;
  recording.add(client);
  (client as unknown as Stack).middlewareStack.add(
    (next, context) => async (args) => {
      const at = log.push(`${service} ${(context.commandName ?? "").replace(/Command$/, "")}`) - 1;
      try {
        return await next(args);
      } catch (error) {
        log[at] += ` -> ${error instanceof Error ? error.name : String(error)}`;
        throw error;
      }
    },
    { step: "initialize", name: "conformanceRecorder", priority: "high" },
  );
  return client;
}

function recordedFactory(raw: ClientFactory, log: string[]): ClientFactory {
  return {
    iam: (credentials) => recorded(raw.iam(credentials), log, "iam"),
    sts: () => recorded(raw.sts(), log, "sts"),
    secrets: () => recorded(raw.secrets(), log, "secretsmanager"),
    dynamodb: () => recorded(raw.dynamodb(), log, "dynamodb"),
    organizations: () => recorded(raw.organizations(), log, "organizations"),
  };
}

interface Wiring {
  backend: BackendName;
  raw: ClientFactory;
  /** An STS client signing with given keys, at the same AWS as `raw`. */
  stsWith: (credentials: AccessKeyCredentials) => STSClient;
  /** Makes the target's access role, as Organizations does when it creates an account. */
  addTarget: (world: World) => Promise<void>;
}

async function openWorld(wiring: Wiring): Promise<World> {
  const calls: string[] = [];
  const published: unknown[] = [];
  const redis = await startLocalRedisCloud({ keys: KEYS, isKeyPropagated: () => true });
  const secrets = wiring.raw.secrets();
  await secrets.send(new CreateSecretCommand({ Name: API_KEYS_SECRET, SecretString: JSON.stringify(KEYS) }));
  const backend: Backend = await awsBackend({
    clients: recordedFactory(wiring.raw, calls),
    config: loadConfig(LOCAL_SETTINGS),
    redis: redisCloudFrom({ apiKeysSecret: API_KEYS_SECRET, apiUrl: redis.url }, { minIntervalMs: 0 }),
    registrarRedis: { baseUrl: redis.url, apiKeysSecret: API_KEYS_SECRET },
    services: { "arn:aws:states:::events:putEvents": async (request) => void published.push(request) },
    stsFor: (credentials) => recorded(wiring.stsWith(credentials), calls, "sts"),
    pauseMs: 0,
  });
  const home = backend.home;
  const roles = new Map<string, IAMClient>();
  const world: World = {
    backend: wiring.backend,
    home,
    calls,
    redis,
    published,
    run: (input, options) => {
      // A cold container reads the API keys: each run does, so that both worlds make that call.
      forgetRedisApiKeys();
      const plain = { runs: backend.runs, services: backend.services };
      const wired = options.failAt ? failingAt(failableState(options.failAt), plain) : plain;
      return backend.run(input, { ...wired, executionName: options.executionName });
    },
    runWorkflow: (name, input, options) => {
      forgetRedisApiKeys();
      if (!backend.runWorkflow) throw new Error("the live backend runs no other workflow");
      return backend.runWorkflow(name, input, { executionName: options.executionName });
    },
    iamIn: async (accountId) => {
      if (accountId === home.accountId) return wiring.raw.iam();
      const cached = roles.get(accountId);
      if (cached) return cached;
      const RoleArn = `arn:aws:iam::${accountId}:role/${ACCESS_ROLE}`;
      const assumed = await wiring.raw
        .sts()
        .send(new AssumeRoleCommand({ RoleArn, RoleSessionName: "arrange" }));
      const c = assumed.Credentials;
      const credentials = {
        accessKeyId: c?.AccessKeyId ?? "",
        secretAccessKey: c?.SecretAccessKey ?? "",
        sessionToken: c?.SessionToken ?? "",
      };
      const iam = wiring.raw.iam(credentials);
      roles.set(accountId, iam);
      return iam;
    },
    secrets: () => secrets,
    sts: () => wiring.raw.sts(),
    close: () => redis.close(),
  };
  await wiring.addTarget(world);
  return world;
}

/** The in-memory AWS, answering where HTTP would be sent so that the SDK's own retries run. */
export function inMemoryWorld(): Promise<World> {
  const aws = new FakeAws({ keyPropagationMs: 0, sdkRetries: true });
  const raw = aws.clients({ accountId: "111111111111", region: "us-east-1" });
  return openWorld({
    backend: "in-memory",
    raw,
    stsWith: (credentials) => raw.sts(credentials),
    addTarget: async () => void aws.addAccount(TARGET, { roles: [ACCESS_ROLE] }),
  });
}

const trustOf = (accountId: string) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: "sts:AssumeRole" },
    ],
  });

/**
 * moto_server at `url`, reached as the deployed functions reach AWS: the default chain, with
 * AWS_ENDPOINT_URL pointing every client at it. moto's default account is the home one; an
 * AssumeRole of a role ARN in another account answers keys that act in that account.
 */
export function motoWorld(url: string): Promise<World> {
  process.env.AWS_ENDPOINT_URL = url;
  return openWorld({
    backend: "moto",
    raw: sdkClients(),
    stsWith: (credentials) => new STSClient({ region: "us-east-1", credentials }),
    addTarget: async (world) => {
      const iam = await world.iamIn(TARGET);
      const trust = trustOf(world.home.accountId);
      await iam.send(new CreateRoleCommand({ RoleName: ACCESS_ROLE, AssumeRolePolicyDocument: trust }));
    },
  });
}
