import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import {
  CreatePolicyVersionCommand,
  DeleteAccessKeyCommand,
  DeleteInstanceProfileCommand,
  DetachRolePolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  RemoveRoleFromInstanceProfileCommand,
  UpdateAccessKeyCommand,
  UpdateAssumeRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { USER_POLICY_NAME } from "../../functions/lib/config.ts";
import { decodePolicyDocument, MANAGED_POLICIES, samePolicy } from "../../functions/lib/policies.ts";
import { forgetRedisApiKeys } from "../../functions/lib/redis-api-keys.ts";
import { toItem } from "../../functions/lib/registry.ts";
import {
  HOME,
  type LocalEnvironment,
  REGISTRY_TABLE,
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

/** The document of the user policy's default version in the account. */
async function defaultDocument(accountId: string): Promise<unknown> {
  const arn = `arn:aws:iam::${accountId}:policy/${USER_POLICY_NAME}`;
  const policy = await iamOf(accountId).send(new GetPolicyCommand({ PolicyArn: arn }));
  const version = await iamOf(accountId).send(
    new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: policy.Policy?.DefaultVersionId }),
  );
  return decodePolicyDocument(version.PolicyVersion?.Document ?? "{}");
}

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

/** Changes made by hand in account A, one per kind of drift; each answers the resource it names. */
const HAND_EDITS: Record<string, () => Promise<string>> = {
  PolicyDocumentChanged: async () => {
    const document = {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "ec2:DescribeRegions", Resource: "*" }],
    };
    await iamOf(A).send(
      new CreatePolicyVersionCommand({
        PolicyArn: USER_POLICY,
        PolicyDocument: JSON.stringify(document),
        SetAsDefault: true,
      }),
    );
    return USER_POLICY;
  },
  TrustPolicyChanged: async () => {
    const trust = {
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { AWS: "arn:aws:iam::444444444444:root" }, Action: "sts:AssumeRole" },
      ],
    };
    await iamOf(A).send(
      new UpdateAssumeRolePolicyCommand({ RoleName: CONSOLE_ROLE, PolicyDocument: JSON.stringify(trust) }),
    );
    return CONSOLE_ROLE;
  },
  AttachmentMissing: async () => {
    await iamOf(A).send(new DetachRolePolicyCommand({ RoleName: NODE_ROLE, PolicyArn: INSTANCE_POLICY }));
    return `${INSTANCE_POLICY} to role ${NODE_ROLE}`;
  },
  InstanceProfileMissing: async () => {
    await iamOf(A).send(
      new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: NODE_ROLE, RoleName: NODE_ROLE }),
    );
    await iamOf(A).send(new DeleteInstanceProfileCommand({ InstanceProfileName: NODE_ROLE }));
    return NODE_ROLE;
  },
  AccessKeyMissing: async () => {
    const key = String(registry(A)?.accessKeyId);
    await iamOf(A).send(new DeleteAccessKeyCommand({ UserName: USER, AccessKeyId: key }));
    return `access key ${key} of ${USER}`;
  },
  AccessKeyInactive: async () => {
    const key = String(registry(A)?.accessKeyId);
    await iamOf(A).send(new UpdateAccessKeyCommand({ UserName: USER, AccessKeyId: key, Status: "Inactive" }));
    return `access key ${key} of ${USER}`;
  },
  CloudAccountNotActive: async () => {
    const id = Number(registry(A)?.cloudAccountId);
    const account = env.redis.state.accounts.get(id);
    if (account) account.status = "active-error";
    return `cloud account ${id}`;
  },
};

describe("each kind of drift", () => {
  it.each(Object.keys(HAND_EDITS))("%s is detected, named in the registry and in one event", async (kind) => {
    // Prepare
    await onboard(A, B);
    const resource = await HAND_EDITS[kind]?.();
    const iamCalls = env.aws.calls.length;

    // Act
    const result = await env.runWorkflow("reconcile", {});

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe("SUCCEEDED");
    expect(result.output).toMatchObject({ totals: { clean: 1, drifted: 1 } });
    const drift = registry(A)?.drift as { kind: string; resource: string }[];
    expect(drift.map((d) => d.kind)).toContain(kind);
    expect(drift.find((d) => d.kind === kind)?.resource).toContain(resource);
    expect(registry(B)?.drift).toEqual([]);
    const events = driftEvents();
    expect(events).toHaveLength(1);
    expect(events[0]?.Detail).toMatchObject({
      accountId: A,
      differences: expect.arrayContaining([expect.objectContaining({ kind })]),
    });
    // Read only, even when drifted.
    const writes = env.aws.calls
      .slice(iamCalls)
      .filter((c) => c.service === "iam" && !/^(Get|List)/.test(c.command));
    expect(writes).toEqual([]);
  });
});

describe("a reconcile with repairDrift", () => {
  it.each(Object.keys(HAND_EDITS))(
    "repairs %s through the normal onboarding, and records the account clean",
    async (kind) => {
      // Prepare
      await onboard(A, B);
      await HAND_EDITS[kind]?.();
      const cloudAccountId = registry(A)?.cloudAccountId;
      const redisFrom = env.redis.state.requests.length;

      // Act
      const result = await env.runWorkflow("reconcile", { repairDrift: true });

      // Assess
      expect(result.status, JSON.stringify(result.error)).toBe("SUCCEEDED");
      expect(result.output).toMatchObject({ totals: { clean: 1, repaired: 1, repairFailed: 0 } });
      expect(registry(A)).toMatchObject({ drift: [], status: "active", repair: { outcome: "succeeded" } });
      // The same cloud account: a key replaced is moved to Redis with a PUT, never a second POST.
      expect(registry(A)?.cloudAccountId).toBe(cloudAccountId);
      const posts = env.redis.state.requests.slice(redisFrom).filter((r) => r.method === "POST");
      expect(posts).toEqual([]);
      // A key replaced, or an active-error cloud account given our credentials again: one PUT.
      if (kind.startsWith("AccessKey") || kind === "CloudAccountNotActive") {
        const puts = env.redis.state.requests.slice(redisFrom).filter((r) => r.method === "PUT");
        expect(puts).toHaveLength(1);
        expect(env.redis.state.accounts.get(Number(cloudAccountId))?.accessKeyId).toBe(
          registry(A)?.accessKeyId,
        );
      }
      // A second reconcile finds nothing left.
      const again = await env.runWorkflow("reconcile", {});
      expect(again.output).toMatchObject({ totals: { clean: 2, drifted: 0 } });
    },
  );
});

describe("a release that ships a changed policy document", () => {
  it("is rolled out to every account by one reconcile with repairDrift", async () => {
    // Prepare
    await onboard(A, B);
    const shipped = MANAGED_POLICIES[USER_POLICY_NAME] as unknown as { Statement: unknown[] };
    const added = { Sid: "NextRelease", Effect: "Allow", Action: "ec2:DescribeRegions", Resource: "*" };
    shipped.Statement.push(added);
    try {
      // Act
      const result = await env.runWorkflow("reconcile", { repairDrift: true });

      // Assess
      expect(result.status, JSON.stringify(result.error)).toBe("SUCCEEDED");
      expect(result.output).toMatchObject({ totals: { repaired: 2, repairFailed: 0 } });
      for (const accountId of [A, B]) {
        expect(samePolicy(await defaultDocument(accountId), shipped), accountId).toBe(true);
        expect(registry(accountId)?.drift).toEqual([]);
      }
      expect(
        driftEvents().map((e) =>
          (e.Detail as { differences: { kind: string }[] }).differences.map((d) => d.kind),
        ),
      ).toEqual([["PolicyDocumentChanged"], ["PolicyDocumentChanged"]]);
    } finally {
      shipped.Statement.splice(shipped.Statement.indexOf(added), 1);
    }
  });
});

describe("a fleet larger than one execution's pages", () => {
  it("is reconciled whole: pages of 100, one Redis read per page, a fresh execution after 5 pages", async () => {
    // Prepare: A onboarded, and 550 more accounts the registry says are active but that hold
    // none of the resources (drift in every one).
    await onboard(A);
    const onboarded = registry(A);
    const dynamodb = env.runtime.clients.dynamodb();
    const fleet = Array.from({ length: 550 }, (_, n) => String(600_000_000_000 + n));
    for (const accountId of fleet) {
      env.aws.addAccount(accountId, { roles: ["OrganizationAccountAccessRole"] });
      await dynamodb.send(
        new PutItemCommand({ TableName: REGISTRY_TABLE, Item: toItem({ ...onboarded, accountId }) }),
      );
    }
    const redisFrom = env.redis.state.requests.length;
    const iamFrom = env.aws.calls.length;

    // Act
    const result = await env.runWorkflow("reconcile", {}, { executionName: "nightly" });

    // Assess
    expect(result.status, JSON.stringify(result.error)).toBe("SUCCEEDED");
    expect(result.output).toMatchObject({ continuedIn: expect.stringContaining("nightly-from-5") });
    for (const accountId of [A, ...fleet]) {
      expect(registry(accountId)?.reconciledAt, accountId).toEqual(expect.any(String));
    }
    expect(driftEvents()).toHaveLength(550);
    const reads = env.redis.state.requests.slice(redisFrom).map((r) => `${r.method} ${r.path}`);
    expect(reads).toEqual(Array(6).fill("GET /v1/cloud-accounts"));
    const writes = env.aws.calls
      .slice(iamFrom)
      .filter((c) => c.service === "iam" && !/^(Get|List)/.test(c.command));
    expect(writes).toEqual([]);
  }, 300_000);
});
