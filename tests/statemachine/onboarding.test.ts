import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { awsError } from "../../local/aws/index.ts";
import { HOME, type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";
import type { WorkflowResult } from "../../local/workflow.ts";

const TARGET = "222222222222";
let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const targetWrites = () => env.aws.writeCount((call) => call.accountId === TARGET && call.service === "iam");
const posts = () => env.redis.state.requests.filter((r) => r.method === "POST").length;

/** The values no state, event or error may ever carry. */
async function secretsOf(accountId: string): Promise<string[]> {
  const stored = await env.runtime.clients
    .secrets()
    .send(new GetSecretValueCommand({ SecretId: `redis-cloud/byoc/${accountId}` }));
  const value = JSON.parse(stored.SecretString ?? "{}") as Record<string, string>;
  return [
    value.secretAccessKey ?? "",
    value.consolePassword ?? "",
    env.apiKeys.accountKey,
    env.apiKeys.userKey,
  ];
}

function expectNoSecretIn(result: WorkflowResult, secrets: string[]) {
  const everything = JSON.stringify(result);
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(10);
    expect(everything).not.toContain(secret);
  }
}

describe("the onboarding workflow, run locally from statemachine/onboarding.asl.yml", () => {
  it("onboards a fresh account from input to an active cloud account", async () => {
    const result = await env.run({ accountId: TARGET, accountName: "payments-prod" });

    expect(result.error).toBeUndefined();
    expect(result.status).toBe("SUCCEEDED");
    const output = result.output as Record<string, unknown>;
    expect(output).toMatchObject({
      accountId: TARGET,
      accountName: "payments-prod",
      consoleRoleName: "redislabs-role",
      nodeRoleArn: `arn:aws:iam::${TARGET}:role/redislabs-cluster-node-role`,
      instanceProfileArn: `arn:aws:iam::${TARGET}:instance-profile/redislabs-cluster-node-role`,
    });
    expect(typeof output.cloudAccountId).toBe("number");
    expect(String(output.credentialsSecretArn)).toContain(`:secret:redis-cloud/byoc/${TARGET}`);
    const account = env.aws.account(TARGET);
    expect([...account.policies.values()].map((p) => p.PolicyName).sort()).toEqual([
      "RedisLabsInstanceRolePolicy",
      "RedislabsIAMUserRestrictedPolicy",
    ]);
    expect(account.instanceProfiles.get("redislabs-cluster-node-role")?.roles).toEqual([
      "redislabs-cluster-node-role",
    ]);
    expect(env.redis.state.accounts.get(output.cloudAccountId as number)?.status).toBe("active");
    expect(env.published).toHaveLength(1);
    expect(JSON.stringify(env.published)).toContain("Redis Cloud Onboarding Succeeded");
  });

  it("makes exactly the twelve IAM writes of the floor on a fresh account", async () => {
    await env.run({ accountId: TARGET });

    const writes = env.aws.calls.filter(
      (c) => c.accountId === TARGET && c.service === "iam" && !/^(Get|List)/.test(c.command),
    );
    expect(writes.map((c) => c.command).sort()).toEqual(
      [
        "AddRoleToInstanceProfile",
        "AttachRolePolicy",
        "AttachRolePolicy",
        "AttachUserPolicy",
        "CreateAccessKey",
        "CreateInstanceProfile",
        "CreateLoginProfile",
        "CreatePolicy",
        "CreatePolicy",
        "CreateRole",
        "CreateRole",
        "CreateUser",
      ].sort(),
    );
  });

  it("re-runs on the same account with zero IAM writes and no second registration", async () => {
    const first = await env.run({ accountId: TARGET });
    const writesAfterFirst = targetWrites();
    const postsAfterFirst = posts();

    const second = await env.run({ accountId: TARGET });

    expect(second.status).toBe("SUCCEEDED");
    expect(targetWrites()).toBe(writesAfterFirst);
    expect(posts()).toBe(postsAfterFirst);
    expect(env.redis.state.accounts.size).toBe(1);
    expect((second.output as { cloudAccountId: number }).cloudAccountId).toBe(
      (first.output as { cloudAccountId: number }).cloudAccountId,
    );
    expect(env.aws.account(TARGET).users.get("redislabs-user")?.keys).toHaveLength(1);
  });

  it("onboards the account the stack runs in for {}, without assuming a role", async () => {
    const result = await env.run({});

    expect(result.status).toBe("SUCCEEDED");
    expect((result.output as { accountId: string }).accountId).toBe(HOME.accountId);
    expect(env.aws.calls.some((c) => c.command === "AssumeRole")).toBe(false);
    expect(env.aws.account(HOME.accountId).roles.has("redislabs-role")).toBe(true);
  });

  it("carries no secret access key, password or API key in any state, event or output", async () => {
    const fresh = await env.run({ accountId: TARGET });
    const rerun = await env.run({ accountId: TARGET });

    const secrets = await secretsOf(TARGET);
    expectNoSecretIn(fresh, secrets);
    expectNoSecretIn(rerun, secrets);
    expect(fresh.events.length).toBeGreaterThan(20);
    expect(JSON.stringify(env.published)).not.toContain(secrets[0]);
  });

  it("waits for IAM to propagate the new key before registering it, checking within one invocation", async () => {
    // Longer than the three IAM steps after the user take locally: the first check is refused.
    env.aws.keyPropagationMs = 500;
    const from = env.aws.calls.length;

    const result = await env.run({ accountId: TARGET }, { pauseMs: 25 });

    expect(result.status).toBe("SUCCEEDED");
    const checks = env.aws.calls
      .slice(from)
      .filter((call) => call.service === "sts" && call.command === "GetCallerIdentity");
    expect(checks.length).toBeGreaterThan(1);
    expect(checks.slice(0, -1).every((call) => call.error === "InvalidClientTokenId")).toBe(true);
    expect(checks.at(-1)?.error).toBeUndefined();
    // The step polled by itself: one entry, no retry by the state machine.
    const verify = result.events.filter((e) => "state" in e && e.state.name === "VerifyAccessKey");
    expect(verify.map((e) => e.type)).toEqual(["StateEntered", "StateExited"]);
    expect(env.redis.state.requests.filter((r) => r.method === "POST" && r.status === 202)).toHaveLength(1);
  });

  it("registers again, after a pause, when Redis refuses a key it cannot use yet", async () => {
    let refusals = 2;
    env.redis.state.options.isKeyPropagated = () => refusals-- <= 0;

    const result = await env.run({ accountId: TARGET });

    expect(result.status).toBe("SUCCEEDED");
    // The registrar asks again itself: the run hands over once and waits.
    const handOvers = result.events.filter(
      (e) => e.type === "StateEntered" && e.state.name === "RegisterCloudAccount",
    );
    expect(handOvers).toHaveLength(1);
    const posts = env.redis.state.requests.filter(
      (r) => r.method === "POST" && r.path === "/v1/cloud-accounts",
    );
    expect(posts).toHaveLength(3);
    expect(env.redis.state.accounts.size).toBe(1);
  });
});

describe("failures", () => {
  it("refuses a bad input at the first state, naming the field, and creates nothing", async () => {
    const before = env.aws.snapshot();

    const result = await env.run({ accountId: "12345", secretAccessKey: "do-not-echo-me" });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("InvalidInput");
    expect(result.error?.Cause).toMatch(/accountId|secretAccessKey/);
    expect(JSON.stringify(result.error)).not.toContain("do-not-echo-me");
    expect(env.aws.snapshot()).toEqual(before);
    expect(env.aws.writeCount()).toBe(1); // the API keys secret made by the environment itself
    // Reported like every failure, with nothing to undo and without the refused values.
    expect(env.published).toHaveLength(1);
    const event = JSON.stringify(env.published);
    expect(event).toContain("Redis Cloud Onboarding Failed");
    expect(event).toContain('\\"errorType\\":\\"InvalidInput\\"');
    expect(event).toContain('"rollback":{"undone":[],"leftBehind":[]}');
    expect(event).not.toContain("do-not-echo-me");
    expect(env.dynamodb.calls).toEqual([]);
  });

  it("reports a failure to take the account lock, with nothing to undo and no lock to release", async () => {
    const services = {
      ...env.services,
      "arn:aws:states:::dynamodb:putItem": async () => {
        throw Object.assign(new Error("User is not authorized to perform dynamodb:PutItem"), {
          name: "DynamoDB.AmazonDynamoDBException",
        });
      },
    };
    const before = env.aws.snapshot();

    const result = await env.run({ accountId: TARGET }, { services, pauseMs: 0 });

    expect(result.error?.Error).toBe("DynamoDB.AmazonDynamoDBException");
    const entered = result.events.flatMap((e) => (e.type === "StateEntered" ? [e.state.name] : []));
    expect(entered.filter((s) => s !== "AcquireAccountLock")).toEqual([
      "ValidateInput",
      "AuthorizeTarget",
      "PlanOrRun",
      "StartLockWait",
      "NothingToRollBack",
      "PublishFailed",
      "OnboardingFailed",
    ]);
    expect(env.aws.snapshot()).toEqual(before);
    expect(JSON.stringify(env.published)).toContain("Redis Cloud Onboarding Failed");
    expect(JSON.stringify(env.published)).toContain(TARGET);
  });

  it("fails with TargetAccessDenied and creates nothing when the role cannot be assumed", async () => {
    env.aws.fail(
      (call) => call.command === "AssumeRole",
      () => awsError("sts", "AccessDenied", "not authorized to perform sts:AssumeRole"),
    );
    const before = env.aws.snapshot();

    const result = await env.run({ accountId: TARGET });

    expect(result.error?.Error).toBe("TargetAccessDenied");
    expect(result.error?.Cause).toContain(`arn:aws:iam::${TARGET}:role/OrganizationAccountAccessRole`);
    expect(env.aws.snapshot()).toEqual(before);
  });

  it("rolls back exactly what the run created when a later step fails for good", async () => {
    const before = env.aws.snapshot();
    env.aws.fail(
      (call) => call.command === "CreateRole" && call.input.RoleName === "redislabs-role",
      () => awsError("iam", "AccessDenied", "denied by an SCP"),
    );

    const result = await env.run({ accountId: TARGET });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("AccessDenied");
    expect(result.error?.Cause).toContain("EnsureConsoleRole");
    expect(env.aws.snapshot()).toEqual(before);
    expect(JSON.stringify(env.published)).toContain("Redis Cloud Onboarding Failed");
    // The user policy, the run's first resource, goes last: once the user it is attached to is gone.
    const at = (command: string, resource: string) =>
      env.aws.calls.findIndex(
        (call) => call.command === command && !call.error && JSON.stringify(call.input).includes(resource),
      );
    expect(at("CreatePolicy", "RedislabsIAMUserRestrictedPolicy")).toBeLessThan(
      at("CreateUser", "redislabs-user"),
    );
    expect(at("DeleteUser", "redislabs-user")).toBeGreaterThan(-1);
    expect(at("DeletePolicy", "RedislabsIAMUserRestrictedPolicy")).toBeGreaterThan(
      at("DeleteUser", "redislabs-user"),
    );
  });

  it("never touches what existed before the run when rolling back", async () => {
    await env.run({ accountId: TARGET });
    const onboarded = env.aws.snapshot();
    env.aws.fail(
      (call) => call.command === "GetRole" && call.input.RoleName === "redislabs-role",
      () => awsError("iam", "AccessDenied", "denied"),
    );

    const result = await env.run({ accountId: TARGET });

    expect(result.error?.Error).toBe("AccessDenied");
    expect(env.aws.snapshot()).toEqual(onboarded);
    expect(env.redis.state.accounts.size).toBe(1);
  });

  it("deletes at Redis the cloud account it registered when Redis fails it", async () => {
    const before = env.aws.snapshot();
    env.redis.state.options.failAccounts = true;

    const result = await env.run({ accountId: TARGET });

    expect(result.error?.Error).toBe("CloudAccountError");
    expect(env.redis.state.requests.some((r) => r.method === "DELETE")).toBe(true);
    expect(env.aws.snapshot()).toEqual(before);
  });

  it("names the Redis task when Redis rejects the registration", async () => {
    env.redis.state.options.failTasksWith = {
      type: "CLOUD_ACCOUNT_PERMISSIONS_ERROR",
      description: "missing",
    };

    const result = await env.run({ accountId: TARGET });

    expect(result.error?.Error).toBe("RedisTaskFailed");
    const taskId = [...env.redis.state.tasks.keys()][0] ?? "no task";
    expect(result.error?.Cause).toContain(taskId);
    expect(result.error?.Cause).toContain("CLOUD_ACCOUNT_PERMISSIONS_ERROR");
  });
});
