import { CreateAccessKeyCommand, CreateUserCommand } from "@aws-sdk/client-iam";
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { getAccountRequest } from "../../functions/http-get-account.ts";
import { handler as getOnboarding } from "../../functions/http-get-onboarding.ts";
import { listAccountsRequest } from "../../functions/http-list-accounts.ts";
import { handler as startOnboarding } from "../../functions/http-start-onboarding.ts";
import { targetIam as targetIamOf } from "../../functions/lib/aws.ts";
import { executionArn } from "../../functions/lib/execution-names.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { verifyAccessKeyStep } from "../../functions/verify-access-key.ts";
import { awsError } from "../../local/aws/index.ts";
import {
  API_KEYS_SECRET,
  HOME,
  type LocalEnvironment,
  REGISTRY_TABLE,
  startLocalEnvironment,
} from "../../local/environment.ts";
import type { WorkflowResult } from "../../local/workflow.ts";
import getFixture from "../fixtures/http/get-onboarding.json" with { type: "json" };
import postFixture from "../fixtures/http/post-onboardings.json" with { type: "json" };
import { lambdaContext, STATE_MACHINE_ARN } from "../support/aws.ts";
import { harvestSecrets, secretsIn } from "./support.ts";

// The logger's level is read at import: the tests' SILENT would hide the very lines to scan (a
// level set later is reset by each HTTP invocation).
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = "DEBUG";
});
const MACHINE = STATE_MACHINE_ARN;

/*
 * No secret leaves Secrets Manager: across onboardings that succeed, re-run, and fail in every
 * way the workflow knows (each with its rollback), no secret access key, console password or
 * Redis API key appears in any state's input or output, any published event, any error, any
 * log line, any answer of the HTTP API, or any request the Redis Cloud API received.
 */

/** One account per scenario, so that each starts from nothing. */
const ACCOUNTS = {
  fresh: "222222222201",
  transient: "222222222202",
  targetDenied: "222222222203",
  consoleRoleDenied: "222222222204",
  keyLimit: "222222222205",
  keyNeverPropagates: "222222222206",
  taskFailed: "222222222207",
  accountError: "222222222208",
  invalidCreds: "222222222209",
  apiKeysRefused: "222222222210",
  rollbackFails: "222222222211",
};

let env: LocalEnvironment;
const secrets = new Set<string>();
const results: { scenario: string; result: WorkflowResult }[] = [];
const logged: string[] = [];
const httpAnswers: string[] = [];

/** Everything written to stdout/stderr or the console while `during` runs, kept and not printed. */
async function capturingOutput<T>(during: () => Promise<T>): Promise<T> {
  const keep = (chunk: unknown) => {
    logged.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, "write").mockImplementation(keep),
    vi.spyOn(process.stderr, "write").mockImplementation(keep),
    ...(["log", "info", "warn", "error", "debug", "trace"] as const).map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        keep(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      }),
    ),
  ];
  try {
    return await during();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

async function run(scenario: string, accountId: string, runs?: LocalEnvironment["runs"]) {
  // Values a rollback deletes are caught while they exist: secrets are gathered at every event.
  const result = await env.run(
    { accountId },
    { onEvent: () => harvestSecrets(env, secrets), ...(runs ? { runs } : {}) },
  );
  harvestSecrets(env, secrets);
  results.push({ scenario, result });
  return result;
}

beforeAll(async () => {
  forgetRedisApiKeys();
  env = await startLocalEnvironment({ targets: Object.values(ACCOUNTS), aws: { keyPropagationMs: 0 } });
  const options = env.redis.state.options;
  await capturingOutput(async () => {
    expect((await run("fresh", ACCOUNTS.fresh)).status).toBe("SUCCEEDED");
    expect((await run("re-run", ACCOUNTS.fresh)).status).toBe("SUCCEEDED");

    const undoThrottling = env.aws.fail(
      (call) => call.command === "CreateAccessKey" || call.command === "PutSecretValue",
      () => awsError("iam", "Throttling", "Rate exceeded"),
      2,
    );
    expect((await run("transient faults", ACCOUNTS.transient)).status).toBe("SUCCEEDED");
    undoThrottling();

    const undoAssume = env.aws.fail(
      (call) => call.command === "AssumeRole" && String(call.input.RoleArn).includes(ACCOUNTS.targetDenied),
      () => awsError("sts", "AccessDenied", "not authorized to perform sts:AssumeRole"),
    );
    expect((await run("TargetAccessDenied", ACCOUNTS.targetDenied)).error?.Error).toBe("TargetAccessDenied");
    undoAssume();

    // Fails after the key, the password and the secret exist: the rollback deletes them.
    const undoConsoleRole = env.aws.fail(
      (call) =>
        call.accountId === ACCOUNTS.consoleRoleDenied &&
        call.command === "CreateRole" &&
        call.input.RoleName === "redislabs-role",
      () => awsError("iam", "AccessDenied", "explicit deny"),
    );
    const denied = await run("AccessDenied at EnsureConsoleRole", ACCOUNTS.consoleRoleDenied);
    expect(denied.error?.Cause).toContain("EnsureConsoleRole");
    expect(env.aws.account(ACCOUNTS.consoleRoleDenied).users.size).toBe(0);
    undoConsoleRole();

    // A redislabs-user made by hand, with both its keys (foreign: the run stops before any write).
    const targetIam = await targetIamOf(
      env.runtime,
      {
        target: { accountId: ACCOUNTS.keyLimit, roleName: "OrganizationAccountAccessRole", accountName: "" },
        execution: "arrange",
      },
      "test",
    );
    await targetIam.send(new CreateUserCommand({ UserName: "redislabs-user" }));
    await targetIam.send(new CreateAccessKeyCommand({ UserName: "redislabs-user" }));
    await targetIam.send(new CreateAccessKeyCommand({ UserName: "redislabs-user" }));
    expect((await run("ForeignResource", ACCOUNTS.keyLimit)).error?.Error).toBe("ForeignResource");

    env.aws.keyPropagationMs = Number.MAX_SAFE_INTEGER;
    // The step's checks in milliseconds, not its deployed 90 s, twice.
    const quickVerify = {
      ...env.runs,
      verifyAccessKey: verifyAccessKeyStep({ pollMs: 5, budgetMs: 50 }).run,
    };
    expect((await run("KeyNotPropagated", ACCOUNTS.keyNeverPropagates, quickVerify)).error?.Error).toBe(
      "KeyNotPropagated",
    );
    env.aws.keyPropagationMs = 0;

    options.failTasksWith = { type: "CLOUD_ACCOUNT_PERMISSIONS_ERROR", description: "missing" };
    expect((await run("RedisTaskFailed", ACCOUNTS.taskFailed)).error?.Error).toBe("RedisTaskFailed");
    delete options.failTasksWith;

    options.failAccounts = true;
    expect((await run("CloudAccountError", ACCOUNTS.accountError)).error?.Error).toBe("CloudAccountError");
    options.failAccounts = false;

    const propagated = options.isKeyPropagated;
    options.isKeyPropagated = () => false;
    expect((await run("CloudAccountInvalidCreds", ACCOUNTS.invalidCreds)).error?.Error).toBe(
      "CloudAccountInvalidCreds",
    );
    options.isKeyPropagated = propagated;

    // Keys Redis refuses: the refused keys are secrets too, and so are the good ones.
    const keysSecret = { SecretId: API_KEYS_SECRET };
    const wrong = { accountKey: `wrong-${"a".repeat(24)}`, userKey: `wrong-${"b".repeat(32)}` };
    await env.runtime.clients
      .secrets()
      .send(new PutSecretValueCommand({ ...keysSecret, SecretString: JSON.stringify(wrong) }));
    forgetRedisApiKeys();
    expect((await run("RedisCloudUnauthorized", ACCOUNTS.apiKeysRefused)).error?.Error).toBe(
      "RedisCloudUnauthorized",
    );
    await env.runtime.clients
      .secrets()
      .send(new PutSecretValueCommand({ ...keysSecret, SecretString: JSON.stringify(env.apiKeys) }));
    forgetRedisApiKeys();

    const undoRole = env.aws.fail(
      (call) =>
        call.accountId === ACCOUNTS.rollbackFails &&
        call.command === "CreateRole" &&
        call.input.RoleName === "redislabs-role",
      () => awsError("iam", "AccessDenied", "explicit deny"),
    );
    const undoDelete = env.aws.fail(
      (call) => call.accountId === ACCOUNTS.rollbackFails && call.command === "DeleteUser",
      () => awsError("iam", "AccessDenied", "explicit deny"),
    );
    expect((await run("rollback that fails", ACCOUNTS.rollbackFails)).error?.Error).toBe("AccessDenied");
    undoRole();
    undoDelete();

    await httpCalls();
  });
}, 60_000);

afterAll(() => env.close());

const sfnMock = mockClient(SFNClient);
const context = lambdaContext("111111111111", "redis-cloud-byoc-test-http");

/**
 * The HTTP API, fed the real data of the runs above: POST bodies that carry real secret values
 * (in unknown fields, as a bad account id, as a role or account name), and GET answers built from
 * the real executions (their input, output, error and cause). Secrets given as field names are
 * bad input, proved in bad-input.test.ts.
 */
async function httpCalls() {
  sfnMock.reset();
  sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArn(MACHINE, input.name),
    startDate: new Date(),
  }));
  const stored = env.aws.account(HOME.accountId).secrets.get(`redis-cloud/byoc/${ACCOUNTS.fresh}`);
  const value = JSON.parse(stored?.versions.at(-1)?.SecretString ?? "{}") as Record<string, string>;
  const [secretKey = "", password = ""] = [value.secretAccessKey, value.consolePassword];
  expect(secrets).toContain(secretKey);
  expect(secrets).toContain(password);
  const bodies = [
    { accountId: ACCOUNTS.fresh },
    { accountId: ACCOUNTS.fresh, secretAccessKey: secretKey },
    { accountId: secretKey },
    { accountId: ACCOUNTS.fresh, roleName: password },
    { accountId: ACCOUNTS.fresh, accountName: secretKey },
    { accountId: ACCOUNTS.fresh, consolePassword: password, apiKey: env.apiKeys.userKey },
  ];
  for (const body of bodies) {
    const event = { ...structuredClone(postFixture), body: JSON.stringify(body) } as APIGatewayProxyEventV2;
    const answer = (await startOnboarding(event, context)) as APIGatewayProxyStructuredResultV2;
    httpAnswers.push(JSON.stringify(answer));
  }
  for (const { result } of results) {
    const id = result.executionName;
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: executionArn(MACHINE, id),
      status: result.status,
      startDate: new Date(),
      stopDate: new Date(),
      input: JSON.stringify(result.events[0]),
      ...(result.output === undefined ? {} : { output: JSON.stringify(result.output) }),
      ...(result.error ? { error: result.error.Error, cause: result.error.Cause } : {}),
    });
    sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const event = { ...structuredClone(getFixture), pathParameters: { id } } as APIGatewayProxyEventV2;
    const answer = (await getOnboarding(
      event as Parameters<typeof getOnboarding>[0],
      context,
    )) as APIGatewayProxyStructuredResultV2;
    httpAnswers.push(JSON.stringify(answer));
  }
  // --- Fleet view: the registry every run above wrote, listed and read account by account ---
  const registry = { dynamodb: env.runtime.clients.dynamodb(), registryTableName: REGISTRY_TABLE };
  const listed = await listAccountsRequest({ limit: "100" }, registry);
  httpAnswers.push(JSON.stringify(listed));
  const rows = listed.body.accounts as { accountId: string }[];
  expect(rows.map((row) => row.accountId)).toContain(ACCOUNTS.fresh);
  for (const { accountId } of rows) {
    httpAnswers.push(JSON.stringify(await getAccountRequest(accountId, registry)));
  }
}

describe("secrets, across every kind of run", () => {
  it("were all gathered: every run made or met real secret values", () => {
    expect(results.map((r) => r.scenario)).toHaveLength(12);
    // Two per onboarding that got as far as EnsureUser, the two hand-made keys, the API keys.
    expect(secrets.size).toBeGreaterThanOrEqual(20);
    for (const secret of secrets) expect(secret.length).toBeGreaterThanOrEqual(24);
    // The capture works: the steps' own log lines were caught.
    expect(logged.join("")).toContain('"step done"');
    expect(logged.join("")).toContain("rollback left resources behind");
    expect(logged.join("")).toContain("request refused");
  });

  it("appear nowhere: states, events, errors, logs, HTTP answers, the Redis request log", () => {
    const sources: Record<string, string> = {
      "state inputs and outputs, outputs and errors": JSON.stringify(results),
      "published events": JSON.stringify(env.published),
      "log lines and console output": logged.join("\n"),
      "HTTP API answers": httpAnswers.join("\n"),
      "Redis Cloud API requests": JSON.stringify(env.redis.state.requests),
      "AWS calls (inputs)": JSON.stringify(env.aws.calls),
      "AWS resources (snapshot)": JSON.stringify(env.aws.snapshot()),
    };
    // A secret could hide URL-encoded (in a path) as well as in the clear.
    const forms = [...new Set([...secrets].flatMap((s) => [s, encodeURIComponent(s)]))];
    let bytes = 0;
    const hits: string[] = [];
    for (const [source, text] of Object.entries(sources)) {
      bytes += Buffer.byteLength(text, "utf8");
      for (const hit of secretsIn(text, forms)) hits.push(`${source}: ${hit}`);
    }
    console.log(
      `no-leak: scanned ${bytes} bytes in ${Object.keys(sources).length} sources for ${secrets.size} secrets; ${hits.length} hits`,
    );
    expect(hits).toEqual([]);
    expect(bytes).toBeGreaterThan(100_000);
  });
});

describe("the scan itself", () => {
  it("would catch a secret that did appear", () => {
    const [secret = "none"] = [...secrets];
    expect(secretsIn(`{"x":"${secret}"}`, [secret])).toHaveLength(1);
  });

  it("ran the account's runs to the outcome each scenario is about", () => {
    expect(
      Object.fromEntries(results.map(({ scenario, result }) => [scenario, result.status])),
    ).toMatchObject({
      fresh: "SUCCEEDED",
      "re-run": "SUCCEEDED",
      "AccessDenied at EnsureConsoleRole": "FAILED",
      "rollback that fails": "FAILED",
    });
  });
});
