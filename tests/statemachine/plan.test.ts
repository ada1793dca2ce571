import { CreatePolicyVersionCommand, UpdateAssumeRolePolicyCommand } from "@aws-sdk/client-iam";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { targetIam as targetIamOf } from "../../functions/lib/aws.ts";
import { CONSOLE_ROLE_NAME, INSTANCE_POLICY_NAME } from "../../functions/lib/config.ts";
import { MANAGED_POLICIES, policyArn } from "../../functions/lib/policies.ts";
import { isWrite } from "../../local/aws/index.ts";
import { type LocalEnvironment, startLocalEnvironment } from "../../local/environment.ts";

/*
 * Plan mode against the real definition: a plan lists exactly the writes the run after it makes,
 * in IAM, in Secrets Manager and at Redis (asserted equal, in order), and writes nothing itself,
 * on a fresh account, on one onboarded already, and on one whose resources drifted since.
 */

const TARGET = "222222222222";
let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

interface PlannedWrite {
  operation: string;
  resource: string;
}

const REDIS_WRITE = /^(POST|PUT|DELETE) /;

/** The writes a run made after `from` (calls) and `fromRequest` (Redis requests), by operation. */
function writesSince(from: number, fromRequest: number) {
  const aws = env.aws.calls
    .slice(from)
    .filter((c) => (c.service === "iam" || c.service === "secretsmanager") && isWrite(c.command) && !c.error)
    .map((c) => c.command);
  const redis = env.redis.state.requests
    .slice(fromRequest)
    .filter((r) => r.method !== "GET" && r.status < 400)
    .map((r) => `${r.method} ${r.path.replace(/\d+$/, "{id}")}`);
  return { aws, redis };
}

/** Plans, checks the plan wrote nothing, then runs for real and answers both lists of writes. */
async function planThenRun() {
  const [calls, requests] = [env.aws.calls.length, env.redis.state.requests.length];
  const planned = await env.run({ accountId: TARGET, plan: true });
  expect(planned.status).toBe("SUCCEEDED");
  const plan = (planned.output as unknown as { plan: { writes: PlannedWrite[]; foreign: unknown[] } }).plan;
  expect(writesSince(calls, requests)).toEqual({ aws: [], redis: [] });
  expect(plan.foreign).toEqual([]);

  const [before, beforeRequests] = [env.aws.calls.length, env.redis.state.requests.length];
  const ran = await env.run({ accountId: TARGET });
  expect(ran.status).toBe("SUCCEEDED");
  const made = writesSince(before, beforeRequests);
  const operations = plan.writes.map((w) => w.operation.replace(/\d+$/, "{id}"));
  return {
    planned: {
      aws: operations.filter((op) => !REDIS_WRITE.test(op)),
      redis: operations.filter((op) => REDIS_WRITE.test(op)),
    },
    made,
    plan,
  };
}

describe("a plan ({ plan: true })", () => {
  it("of a fresh account lists the writes of the onboarding that follows, and writes nothing", async () => {
    const { planned, made } = await planThenRun();

    expect(made.aws.length).toBeGreaterThan(10);
    expect(planned).toEqual(made);
    expect(made.redis).toEqual(["POST /v1/cloud-accounts"]);
  });

  it("of an onboarded account lists no write, and the run after it makes none", async () => {
    expect((await env.run({ accountId: TARGET })).status).toBe("SUCCEEDED");

    const { planned, made } = await planThenRun();

    expect(planned).toEqual({ aws: [], redis: [] });
    expect(made).toEqual({ aws: [], redis: [] });
  });

  it("of a drifted account lists the repairs, with documents before and after, and the run makes them", async () => {
    expect((await env.run({ accountId: TARGET })).status).toBe("SUCCEEDED");
    const iam = await targetIamOf(
      env.runtime,
      {
        target: { accountId: TARGET, roleName: "OrganizationAccountAccessRole", accountName: "" },
        execution: "hand",
      },
      "test",
    );
    const edited = {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "ec2:Describe*", Resource: "*" }],
    };
    await iam.send(
      new CreatePolicyVersionCommand({
        PolicyArn: policyArn("aws", TARGET, INSTANCE_POLICY_NAME),
        PolicyDocument: JSON.stringify(edited),
        SetAsDefault: true,
      }),
    );
    const trust = {
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { AWS: "arn:aws:iam::999999999999:root" }, Action: "sts:AssumeRole" },
      ],
    };
    await iam.send(
      new UpdateAssumeRolePolicyCommand({
        RoleName: CONSOLE_ROLE_NAME,
        PolicyDocument: JSON.stringify(trust),
      }),
    );

    const { planned, made, plan } = await planThenRun();

    expect(made.aws).toEqual(["CreatePolicyVersion", "UpdateAssumeRolePolicy"]);
    expect(planned).toEqual(made);
    const version = plan.writes.find((w) => w.operation === "CreatePolicyVersion") as PlannedWrite & {
      before: unknown;
      after: unknown;
    };
    expect(version.before).toEqual(edited);
    expect(version.after).toEqual(MANAGED_POLICIES[INSTANCE_POLICY_NAME]);
  });
});
