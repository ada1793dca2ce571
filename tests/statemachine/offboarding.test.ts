import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  HOME,
  type LocalEnvironment,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import { addSubscription } from "../../local/redis-cloud/server.ts";
import { expectInvariant, expectOffboarded, productIam, TARGET } from "../support/offboarding.ts";

let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const iamOf = () => productIam(env);

async function onboard(): Promise<number> {
  const result = await env.run({ accountId: TARGET });
  expect(result.status).toBe("SUCCEEDED");
  return (result.output as { cloudAccountId: number }).cloudAccountId;
}

describe("the offboarding workflow, run locally from statemachine/offboarding.asl.yml", () => {
  it("leaves nothing the product made in IAM, at Redis or in Secrets Manager but the scheduled deletion", async () => {
    const cloudAccountId = await onboard();

    const result = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(result.error).toBeUndefined();
    expect(result.status).toBe("SUCCEEDED");
    expect(iamOf()).toEqual({ policies: [], roles: [], users: [], profiles: [] });
    expect(env.redis.state.accounts.has(cloudAccountId)).toBe(false);
    const secret = [...env.aws.account(HOME.accountId).secrets.values()].find((s) => s.Name.endsWith(TARGET));
    expect(secret?.DeletedDate).toBeInstanceOf(Date);
    const item = registryItemOf(env.dynamodb, TARGET);
    expect(item?.status).toBe("offboarded");
    expect(item?.resources).toEqual([]);
    expect(item?.cloudAccountId).toBeUndefined();
    const record = item?.offboarding as { iam: { removed: string[] }; secret: { recoveryDays: number } };
    expect(record.iam.removed).toEqual(
      expect.arrayContaining(["User redislabs-user", "Role redislabs-role"]),
    );
    expect(record.secret.recoveryDays).toBe(7);
    expect(JSON.stringify(env.published)).toContain("Redis Cloud Offboarding Succeeded");
  });

  it("refuses with CloudAccountInUse, naming the subscription, and changes nothing", async () => {
    const cloudAccountId = await onboard();
    const subscription = addSubscription(env.redis, cloudAccountId);
    const before = { iam: iamOf(), item: registryItemOf(env.dynamodb, TARGET) };

    const result = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("CloudAccountInUse");
    expect(result.error?.Cause).toContain(String(subscription.id));
    expect(iamOf()).toEqual(before.iam);
    expect(registryItemOf(env.dynamodb, TARGET)).toEqual(before.item);
    expect(env.redis.state.accounts.get(cloudAccountId)?.status).toBe("active");
    expect(env.redis.state.requests.filter((r) => r.method === "DELETE")).toEqual([]);
    expect(JSON.stringify(env.published)).toContain("Redis Cloud Offboarding Failed");
  });

  it("offboards a closed account at Redis, in Secrets Manager and the registry, without entering it", async () => {
    const cloudAccountId = await onboard();
    env.aws.addOrganizationAccount(TARGET, "r-abcd", "SUSPENDED");
    const iamCalls = () => env.aws.calls.filter((c) => c.accountId === TARGET && c.service === "iam").length;
    const callsBefore = iamCalls();

    const result = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(result.status).toBe("SUCCEEDED");
    expect(iamCalls()).toBe(callsBefore);
    expect(env.redis.state.accounts.has(cloudAccountId)).toBe(false);
    const output = result.output as { iam: { wentWithAccount: boolean }; accountState: string };
    expect(output).toMatchObject({ iam: { wentWithAccount: true }, accountState: "SUSPENDED" });
    expect(registryItemOf(env.dynamodb, TARGET)?.status).toBe("offboarded");
  });

  it("answers nothing to offboard, and succeeds, for an account never onboarded", async () => {
    const result = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(result.status).toBe("SUCCEEDED");
    expect(result.output).toMatchObject({ offboarded: false, message: "nothing to offboard" });
    expect(registryItemOf(env.dynamodb, TARGET)).toBeUndefined();
    expect(env.redis.state.requests).toEqual([]);
  });

  it("a second offboarding finds nothing to offboard", async () => {
    await onboard();
    await env.runWorkflow("offboarding", { accountId: TARGET });

    const again = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(again.status).toBe("SUCCEEDED");
    expect(again.output).toMatchObject({ message: "nothing to offboard" });
  });

  it("refuses a bad input by field before anything is read", async () => {
    const result = await env.runWorkflow("offboarding", { accountId: "12" });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("InvalidInput");
    expect(result.error?.Cause).toContain("accountId");
  });

  /** Each step's function, crashing once after its work is done (its answer lost). */
  const STEPS = [
    "offboardStart",
    "offboardAtRedis",
    "offboardBegin",
    "offboardIam",
    "offboardSecret",
    "offboardFinish",
  ];

  it.each(STEPS)("finishes on a re-run after %s crashed with its work done", async (fn) => {
    const cloudAccountId = await onboard();
    let crashed = false;
    const real = env.runs[fn];
    if (!real) throw new Error(`no function ${fn}`);
    const runs = {
      ...env.runs,
      [fn]: async (event: unknown, runtime: Parameters<typeof real>[1]) => {
        const result = await real(event, runtime);
        // The registrar's code answers many times (one look per tick): the one that says done crashes.
        const done = fn !== "offboardAtRedis" || (result as { done?: boolean }).done === true;
        if (!crashed && done) {
          crashed = true;
          const error = new Error(`${fn} crashed after its work`);
          error.name = "UnexpectedError";
          throw error;
        }
        return result;
      },
    };

    const first = await env.runWorkflow("offboarding", { accountId: TARGET }, { runs });
    expect(crashed).toBe(true);
    expect(first.status).toBe("FAILED");
    expectInvariant(env, cloudAccountId, expect);

    const again = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(again.error).toBeUndefined();
    expect(again.status).toBe("SUCCEEDED");
    expectOffboarded(env, cloudAccountId, expect);
  });
});
