import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toItem } from "../../functions/lib/registry.ts";
import {
  type LocalEnvironment,
  REGISTRY_TABLE,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";

/*
 * The bulk onboarding, end to end in the local environment: the real definition (its Distributed
 * Map through local/distributed-map.ts), the real plan and summary code, and a real child
 * onboarding per account through the startExecution.sync:2 stand-in.
 */

const ROOT = "r-ab12";
const OUS = ["ou-ab12-11111111", "ou-ab12-22222222", "ou-ab12-33333333"] as const;
/** 200 accounts: 40 in the first OU, 60 in the second, 100 in the third (the excluded one). */
const SIZES = [40, 60, 100];
const accountsOf = (ou: number) =>
  Array.from({ length: SIZES[ou] as number }, (_, i) => String(300_000_000_000 + ou * 1000 + i));
const ALL = [0, 1, 2].flatMap(accountsOf);
/** Left out by the input: a whole OU, and two accounts by id. */
const EXCLUDED_OU = OUS[2];
const EXCLUDED_ACCOUNTS = [accountsOf(0)[0], accountsOf(1)[0]] as string[];
const SUSPENDED = accountsOf(0)[1] as string;
const ALREADY_ACTIVE = [accountsOf(0)[2], accountsOf(1)[2]] as string[];

let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: ALL, aws: { keyPropagationMs: 0 } });
  for (const [i, ou] of OUS.entries()) {
    env.aws.addOrganizationalUnit(ou, ROOT);
    for (const id of accountsOf(i))
      env.aws.addOrganizationAccount(id, ou, id === SUSPENDED ? "SUSPENDED" : "ACTIVE");
  }
  for (const accountId of ALREADY_ACTIVE) {
    env.dynamodb.putItem({
      TableName: REGISTRY_TABLE,
      Item: toItem({
        accountId,
        status: "active",
        updatedAt: "2026-01-01T00:00:00.000Z",
        resources: [],
      }) as never,
    });
  }
}, 60_000);
afterEach(() => env.close());

const expected = ALL.filter(
  (id) =>
    !accountsOf(2).includes(id) &&
    !EXCLUDED_ACCOUNTS.includes(id) &&
    id !== SUSPENDED &&
    !ALREADY_ACTIVE.includes(id),
);

describe("bulk onboarding of an organization", () => {
  it("onboards exactly the ACTIVE accounts left by the exclude lists and the registry, skips the rest with a reason, and a second run starts nothing", async () => {
    const first = await env.runWorkflow("bulk-onboarding", {
      organization: true,
      excludeOuIds: [EXCLUDED_OU],
      excludeAccountIds: EXCLUDED_ACCOUNTS,
    });
    expect(first.error).toBeUndefined();
    expect(first.status).toBe("SUCCEEDED");
    const summary = first.output as Record<string, unknown>;
    expect(summary).toMatchObject({
      started: expected.length,
      onboarded: expected.length,
      failed: 0,
      skipped: { excludedOu: 100, excludedAccount: 2, notActive: 1, alreadyActive: 2, notAllowed: 0 },
    });
    for (const id of expected) expect(registryItemOf(env.dynamodb, id)?.status).toBe("active");
    expect(summary.skippedAccounts).toMatchObject({
      excludedAccount: EXCLUDED_ACCOUNTS,
      notActive: [SUSPENDED],
      alreadyActive: ALREADY_ACTIVE,
    });
    for (const id of [...accountsOf(2), ...EXCLUDED_ACCOUNTS, SUSPENDED]) {
      expect(registryItemOf(env.dynamodb, id)).toBeUndefined();
      expect(env.aws.account(id).users.size).toBe(0);
    }
    const completed = env.published.filter((e) =>
      JSON.stringify(e).includes("Redis Cloud Bulk Onboarding Completed"),
    );
    expect(completed).toHaveLength(1);
    expect(JSON.stringify(completed[0])).toContain(`"onboarded":${expected.length}`);

    const childrenBefore = env.redis.state.requests.filter((r) => r.method === "POST").length;
    const second = await env.runWorkflow("bulk-onboarding", {
      organization: true,
      excludeOuIds: [EXCLUDED_OU],
      excludeAccountIds: EXCLUDED_ACCOUNTS,
    });
    expect(second.status).toBe("SUCCEEDED");
    expect(second.output).toMatchObject({
      started: 0,
      onboarded: 0,
      skipped: { alreadyActive: expected.length + ALREADY_ACTIVE.length, excludedOu: 100 },
    });
    const entered = second.events.flatMap((e) => (e.type === "StateEntered" ? [e.state.name] : []));
    expect(entered).not.toContain("StartOnboarding");
    expect(env.redis.state.requests.filter((r) => r.method === "POST")).toHaveLength(childrenBefore);
  }, 600_000);
});

describe("a bad bulk input", () => {
  it.each([
    [{}, "input: must name exactly one of organization, ouIds, accountIds"],
    [{ organization: true, accountIds: ["300000000000"] }, "input: must name exactly one of"],
    [{ ouIds: ["ou-nope"] }, "ouIds.0: must be an OU id"],
    [{ accountIds: ["300000000000"], includeChildOus: true }, "includeChildOus: applies only with ouIds"],
    [{ organization: true, excludeAccountIds: ["12"] }, "excludeAccountIds.0: must be a 12-digit account id"],
    [
      { organization: true, roleName: "SomeOtherRole" },
      "roleName: must be one of the deployment's TARGET_ROLE_NAMES",
    ],
    [{ organization: true, region: "us-east-1" }, "region: unknown field"],
  ])("%j fails PlanBulk with InvalidInput naming the field, and starts nothing", async (input, message) => {
    const result = await env.runWorkflow("bulk-onboarding", input);

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("InvalidInput");
    expect(result.error?.Cause).toContain(`PlanBulk: ${message}`);
    const entered = result.events.flatMap((e) => (e.type === "StateEntered" ? [e.state.name] : []));
    expect(entered).toEqual(["PlanBulk"]);
    expect(env.aws.calls.filter((call) => call.service === "organizations")).toEqual([]);
    expect(env.published).toEqual([]);
  });
});
