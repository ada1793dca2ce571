import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toItem } from "../../functions/lib/registry.ts";
import {
  type LocalEnvironment,
  REGISTRY_TABLE,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import { FLEET_BUDGET_PER_MINUTE } from "../../local/fleet.ts";
import { runOnVirtualClock } from "../../local/virtual-clock.ts";

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

/** The organization: three OUs, one account suspended, two already active in the registry. */
function arrange(target: LocalEnvironment): void {
  for (const [i, ou] of OUS.entries()) {
    target.aws.addOrganizationalUnit(ou, ROOT);
    for (const id of accountsOf(i))
      target.aws.addOrganizationAccount(id, ou, id === SUSPENDED ? "SUSPENDED" : "ACTIVE");
  }
  for (const accountId of ALREADY_ACTIVE) {
    target.dynamodb.putItem({
      TableName: REGISTRY_TABLE,
      Item: toItem({
        accountId,
        status: "active",
        updatedAt: "2026-01-01T00:00:00.000Z",
        resources: [],
      }) as never,
    });
  }
}

/*
 * On the virtual clock, as the fleets of the benchmark: every wait as written, the registrar with
 * its deployed budget and the local Redis Cloud API with Redis's limits (400 requests a minute).
 * On the wall clock without a budget, 95 onboardings would run into Redis's 429 and its minute.
 */
async function onVirtualClock<T>(work: (target: LocalEnvironment) => Promise<T>): Promise<T> {
  const { result } = await runOnVirtualClock(
    async () => {
      env = await startLocalEnvironment({
        targets: ALL,
        aws: { keyPropagationMs: 10_000 },
        redis: { inProcess: true, taskSeconds: 30, freshSeconds: 3 },
        registrar: { timed: true, perMinute: FLEET_BUDGET_PER_MINUTE },
      });
      arrange(env);
      try {
        return await work(env);
      } finally {
        await env.registrar.settled();
        await env.close();
      }
    },
    { maxElapsedMs: 10 * 24 * 3600_000 },
  );
  return result;
}

const expected = ALL.filter(
  (id) =>
    !accountsOf(2).includes(id) &&
    !EXCLUDED_ACCOUNTS.includes(id) &&
    id !== SUSPENDED &&
    !ALREADY_ACTIVE.includes(id),
);

describe("bulk onboarding of an organization", () => {
  it("onboards exactly the ACTIVE accounts left by the exclude lists and the registry, skips the rest with a reason, and a second run starts nothing", async () => {
    const input = { organization: true, excludeOuIds: [EXCLUDED_OU], excludeAccountIds: EXCLUDED_ACCOUNTS };
    const { first, second, postsAfterFirst } = await onVirtualClock(async (target) => {
      const first = await target.runWorkflow("bulk-onboarding", input, { pauseMs: undefined });
      await target.registrar.settled();
      const postsAfterFirst = target.redis.state.requests.filter((r) => r.method === "POST").length;
      const second = await target.runWorkflow("bulk-onboarding", input, { pauseMs: undefined });
      return { first, second, postsAfterFirst };
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
    // One event a run: this one's, and the second run's below.
    expect(completed).toHaveLength(2);
    expect(JSON.stringify(completed[0])).toContain(`"onboarded":${expected.length}`);
    expect(JSON.stringify(completed[1])).toContain('"started":0');

    // No secret in the run's output, its events or what it published: the keys Redis holds, the
    // API keys (all in Secrets Manager only).
    const secrets = [env.apiKeys.accountKey, env.apiKeys.userKey];
    for (const id of expected.slice(0, 5)) {
      for (const user of env.aws.account(id).users.values()) {
        for (const key of user.keys) secrets.push(key.SecretAccessKey);
      }
    }
    const seen = JSON.stringify([first.output, first.events, env.published]);
    for (const secret of secrets) expect(seen).not.toContain(secret);

    expect(second.status).toBe("SUCCEEDED");
    expect(second.output).toMatchObject({
      started: 0,
      onboarded: 0,
      skipped: { alreadyActive: expected.length + ALREADY_ACTIVE.length, excludedOu: 100 },
    });
    const entered = second.events.flatMap((e) => (e.type === "StateEntered" ? [e.state.name] : []));
    expect(entered).not.toContain("StartOnboarding");
    expect(env.redis.state.requests.filter((r) => r.method === "POST")).toHaveLength(postsAfterFirst);
  }, 600_000);
});

describe("a bad bulk input", () => {
  beforeEach(async () => {
    env = await startLocalEnvironment({ targets: [], aws: { keyPropagationMs: 0 } });
    arrange(env);
  });
  afterEach(() => env.close());

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
