import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { failableState, failingAt } from "../../local/cli/fail-at.ts";
import { type LocalEnvironment, registryItemOf, startLocalEnvironment } from "../../local/environment.ts";
import { harvestSecrets, secretsIn } from "../proofs/support.ts";

/*
 * The account registry as the workflow leaves it: what a run made, under its execution, how the
 * run ended, and what a rollback undid (exactly what was recorded).
 */

const TARGET = "222222222222";
let env: LocalEnvironment;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
});
afterEach(() => env.close());

const item = () => registryItemOf(env.dynamodb, TARGET);
const label = (change: Record<string, unknown>) => {
  const { type, ...rest } = change;
  return `${String(type)} ${Object.values(rest).join(" ")}`;
};

/** Everything a fresh onboarding makes: five IAM resources, what ties them, the key and the secret. */
const FRESH = [
  "Policy",
  "User",
  "UserPolicyAttachment",
  "LoginProfile",
  "AccessKey",
  "Secret",
  "Policy",
  "Role",
  "RolePolicyAttachment",
  "InstanceProfile",
  "InstanceProfileRole",
  "Role",
  "RolePolicyAttachment",
];

describe("the account registry after a run", () => {
  it("lists what a fresh onboarding created, under its execution, and the account as active", async () => {
    const result = await env.run({ accountId: TARGET }, { executionName: "run-1" });
    expect(result.status).toBe("SUCCEEDED");
    const output = result.output as Record<string, unknown>;

    const registered = item();
    expect(registered).toMatchObject({
      status: "active",
      lastExecution: "run-1",
      lastOutcome: "succeeded",
      cloudAccountId: output.cloudAccountId,
      accessKeyId: output.accessKeyId,
      secretArn: output.credentialsSecretArn,
    });
    expect(registered?.lastError).toBeUndefined();
    // What the account now carries, by document: a later release can tell an older one.
    expect(Object.keys(registered?.documentHashes ?? {}).sort()).toEqual([
      "policy RedisLabsInstanceRolePolicy",
      "policy RedislabsIAMUserRestrictedPolicy",
      "trust policy of redislabs-cluster-node-role",
      "trust policy of redislabs-role",
    ]);
    expect(Object.values(registered?.documentHashes ?? {}).every((h) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
    expect(registered?.resources.map((e) => e.change.type)).toEqual(FRESH);
    expect(registered?.resources.every((e) => e.execution === "run-1" && e.origin === "created")).toBe(true);
    // No secret: not the key's, not the console password, not the API keys.
    expect(secretsIn(JSON.stringify(env.dynamodb.snapshot()), harvestSecrets(env))).toEqual([]);
  });

  it("keeps them on a re-run, which records nothing new", async () => {
    await env.run({ accountId: TARGET }, { executionName: "run-1" });
    const first = item();

    const again = await env.run({ accountId: TARGET }, { executionName: "run-2" });

    expect(again.status).toBe("SUCCEEDED");
    expect(item()?.resources).toEqual(first?.resources);
    expect(item()).toMatchObject({ status: "active", lastExecution: "run-2", lastOutcome: "succeeded" });
  });

  it("ends failed with the error's name, the rollback having undone exactly what was recorded", async () => {
    const wiring = failingAt(failableState("EnsureConsoleRole"), { runs: env.runs, services: env.services });
    const runs = { ...wiring.runs };
    const recorded: string[] = [];
    // What the run had recorded when the rollback began.
    const rollback = runs.rollback;
    runs.rollback = async (event, runtime) => {
      recorded.push(...(item()?.resources ?? []).map((e) => label(e.change)));
      return rollback?.(event, runtime);
    };

    const result = await env.run({ accountId: TARGET }, { ...wiring, runs, executionName: "run-1" });

    expect(result.status).toBe("FAILED");
    expect(result.error?.Error).toBe("AccessDenied");
    expect(recorded).toHaveLength(FRESH.length - 2);
    const exited = result.events.find((e) => e.type === "StateExited" && e.state.name === "RollBack");
    type Exit = { state: { output: { rollback: { undone: string[]; leftBehind: unknown[] } } } };
    const undone = (exited as unknown as Exit).state.output.rollback;
    expect([...undone.undone].sort()).toEqual([...recorded].sort());
    expect(undone.leftBehind).toEqual([]);
    expect(item()).toMatchObject({
      status: "failed",
      lastExecution: "run-1",
      lastOutcome: "failed",
      lastError: "AccessDenied",
      resources: [],
    });
  });
});
