import { CreateRoleCommand } from "@aws-sdk/client-iam";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toItem } from "../../functions/lib/registry.ts";
import type { Change } from "../../functions/lib/step.ts";
import { failableState, failingAt } from "../../local/cli/fail-at.ts";
import {
  HOME,
  type LocalEnvironment,
  REGISTRY_TABLE,
  registryItemOf,
  startLocalEnvironment,
} from "../../local/environment.ts";
import { rejectionOf } from "../support/aws.ts";

/*
 * The rollback invoked directly, as anyone allowed to invoke its function could: whatever the
 * input claims, it undoes only what the registry recorded for the account's running execution,
 * and only while each resource is still that execution's. A crafted invocation changes nothing.
 */

const TARGET = "222222222222";
const ORG_ROLE = "OrganizationAccountAccessRole";
const FOREIGN_ROLE = "payments-admin";
const OPEN_TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Principal: { AWS: "arn:aws:iam::444455556666:root" }, Action: "sts:AssumeRole" },
  ],
});
const target = { accountId: TARGET, roleName: ORG_ROLE, accountName: "" };

let env: LocalEnvironment;
let cloudAccountId: number;

beforeEach(async () => {
  env = await startLocalEnvironment({ targets: [TARGET], aws: { keyPropagationMs: 0 } });
  // Someone else's role in the account, besides the access role the account was made with.
  const iam = await env.runtime.clients.iam();
  await iam.send(new CreateRoleCommand({ RoleName: FOREIGN_ROLE, AssumeRolePolicyDocument: OPEN_TRUST }));
  // A run that failed and was rolled back, then one that onboarded the account.
  const failed = await env.run(
    { accountId: TARGET },
    {
      executionName: "run-failed",
      ...failingAt(failableState("EnsureConsoleRole"), { runs: env.runs, services: env.services }),
    },
  );
  expect(failed.status).toBe("FAILED");
  const ok = await env.run({ accountId: TARGET }, { executionName: "run-ok" });
  expect(ok.status).toBe("SUCCEEDED");
  cloudAccountId = (ok.output as { cloudAccountId: number }).cloudAccountId;
});
afterEach(() => env.close());

/** Everything that could be changed: every account's IAM and secrets, the tables, Redis's accounts. */
const world = () =>
  JSON.stringify({ aws: env.aws.snapshot({ tables: true }), redis: [...env.redis.state.accounts.entries()] });

const invoke = (event: unknown) =>
  env.runs.rollback?.(event, env.runtime) as Promise<Record<string, unknown>>;

/** A made-up change list naming foreign roles, the access role and its trust. */
const CRAFTED: Change[] = [
  { type: "Role", name: FOREIGN_ROLE },
  { type: "Role", name: ORG_ROLE },
  { type: "TrustPolicy", role: ORG_ROLE, previousDocument: OPEN_TRUST },
  { type: "RolePolicyAttachment", role: ORG_ROLE, policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" },
  { type: "User", name: "redislabs-user" },
  { type: "Role", name: "redislabs-role" },
];

describe("a crafted rollback invocation", () => {
  it("is refused when it hands the rollback a change list: the rollback takes none", async () => {
    const before = world();
    const error = await rejectionOf(
      invoke({ target, execution: "run-ok", steps: { user: { changes: CRAFTED } } }),
    );
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toContain("steps");
    expect(world()).toBe(before);
  });

  it.each([
    ["the execution that onboarded the account", "run-ok"],
    ["an execution that ended long ago, with records of its own", "run-failed"],
    ["an execution that never ran", "evil-run"],
  ])("undoes nothing for %s, not even the cloud account it names", async (_case, execution) => {
    const before = world();

    const result = await invoke({ target, execution });
    // A state naming a cloud account as this run's is refused: the rollback takes none.
    const registration = { reused: false, cloudAccountId };
    const error = await rejectionOf(invoke({ target, execution, state: { registration } }));

    expect(result).toMatchObject({ undone: [], leftBehind: [], refused: expect.stringContaining(execution) });
    expect(error.name).toBe("InvalidInput");
    expect(error.message).toContain("state");
    expect(world()).toBe(before);
  });

  it("deletes no cloud account at Redis for the running execution when the registry's registration is not its own", async () => {
    // The registry made to name the crafted execution as running; its registration is run-ok's,
    // then one the crafted execution found.
    const dynamodb = env.aws.account(HOME.accountId).dynamodb;
    const current = registryItemOf(dynamodb, TARGET);
    const running = { ...current, status: "onboarding", lastExecution: "evil-run", lastOutcome: "running" };
    const found = { ...current?.registration, execution: "evil-run", origin: "found" };
    const before = world();

    dynamodb.putItem({ TableName: REGISTRY_TABLE, Item: toItem(running) as never });
    const other = await invoke({ target, execution: "evil-run" });
    dynamodb.putItem({
      TableName: REGISTRY_TABLE,
      Item: toItem({ ...running, registration: found }) as never,
    });
    const notMade = await invoke({ target, execution: "evil-run" });

    expect(current?.registration).toMatchObject({ cloudAccountId, execution: "run-ok" });
    expect(other.undone).toEqual([]);
    expect(notMade.undone).toEqual([]);
    expect([...env.redis.state.accounts.keys()]).toEqual([cloudAccountId]);
    expect(env.redis.state.requests.filter((r) => r.method === "DELETE")).toEqual([]);
    expect(JSON.parse(world()).redis).toEqual(JSON.parse(before).redis);
  });

  it("undoes nothing of what another execution recorded, nor anything foreign the registry names for it", async () => {
    // The registry itself made to name the crafted execution as running, with foreign records of
    // its own and the real records of the execution that onboarded the account.
    const dynamodb = env.aws.account(HOME.accountId).dynamodb;
    const current = registryItemOf(dynamodb, TARGET);
    const at = new Date().toISOString();
    const foreign = CRAFTED.map((change) => ({
      change,
      execution: "evil-run",
      origin: "created",
      recordedAt: at,
    }));
    dynamodb.putItem({
      TableName: REGISTRY_TABLE,
      Item: toItem({
        ...current,
        status: "onboarding",
        lastExecution: "evil-run",
        lastOutcome: "running",
        resources: [...(current?.resources ?? []), ...foreign],
      }) as never,
    });
    const before = world();

    const result = await invoke({ target, execution: "evil-run" });

    expect(result.undone).toEqual([]);
    // Each foreign record is named as not this product's (or no longer this run's), and left alone.
    expect((result.leftBehind as { error: string }[]).map((item) => item.error.split(":")[0])).toEqual(
      CRAFTED.map(() => "ResourceConflict"),
    );
    expect(world()).toBe(before);
  });
});
