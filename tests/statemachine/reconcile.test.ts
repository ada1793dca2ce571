import {
  AttachRolePolicyCommand,
  CreatePolicyVersionCommand,
  DeleteAccessKeyCommand,
  DeleteInstanceProfileCommand,
  DetachRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
  UpdateAccessKeyCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import {
  HOME,
  type LocalEnvironment,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";

/*
 * The scheduled reconcile against the in-memory AWS and the local Redis Cloud API: onboarded
 * accounts are changed by hand, one kind of drift at a time, and the real definition finds and
 * names each difference in the registry and in its event; with repairDrift the normal onboarding
 * repairs it. A clean fleet costs no write anywhere.
 */

const A = "222222222222";
const B = "333333333333";
const USER = "redislabs-user";
const NODE_ROLE = "redislabs-cluster-node-role";
const CONSOLE_ROLE = "redislabs-role";
const USER_POLICY = `arn:aws:iam::${A}:policy/RedislabsIAMUserRestrictedPolicy`;
const INSTANCE_POLICY = `arn:aws:iam::${A}:policy/RedisLabsInstanceRolePolicy`;

let env: LocalEnvironment;

beforeEach(async () => {
  forgetRedisApiKeys();
  env = await startLocalEnvironment({ targets: [A, B], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const iamOf = (accountId: string) => env.aws.clients({ accountId, region: HOME.region }).iam();
const registry = (accountId: string) => registryItemOf(env.aws.account(HOME.accountId).dynamodb, accountId);
const driftEvents = () =>
  env.published.flatMap((request) =>
    ((request as { Entries?: { DetailType: string; Detail: unknown }[] }).Entries ?? []).filter(
      (e) => e.DetailType === "Redis Cloud Account Drift Detected",
    ),
  );
const kindsOf = (drift: unknown) =>
  ((drift as { kind: string }[] | undefined) ?? []).map((d) => d.kind).sort();

async function onboard(...accounts: string[]) {
  for (const accountId of accounts) {
    const run = await env.run({ accountId });
    expect(run.status, JSON.stringify(run.error)).toBe("SUCCEEDED");
  }
}

describe("a reconcile of onboarded accounts", () => {
  it("finds a clean fleet clean, with no IAM write and no Redis write, and records reconciledAt", async () => {
    // Prepare
    await onboard(A, B);
    const iamCalls = env.aws.calls.length;
    const redisFrom = env.redis.state.requests.length;

    // Act
    const result = await env.runWorkflow("reconcile", {});

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe("SUCCEEDED");
    expect(result.output).toMatchObject({ totals: { clean: 2, drifted: 0, failed: 0 } });
    const writes = env.aws.calls
      .slice(iamCalls)
      .filter((c) => c.service !== "dynamodb" && !/^(Get|List|Describe|AssumeRole)/.test(c.command));
    expect(writes).toEqual([]);
    const redis = env.redis.state.requests.slice(redisFrom).map((r) => `${r.method} ${r.path}`);
    expect(redis).toEqual(["GET /v1/cloud-accounts"]);
    for (const id of [A, B])
      expect(registry(id)).toMatchObject({ drift: [], reconciledAt: expect.any(String) });
    expect(driftEvents()).toEqual([]);
  });
});
