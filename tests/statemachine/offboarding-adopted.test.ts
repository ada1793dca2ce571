import { GetRoleCommand } from "@aws-sdk/client-iam";
import { afterEach, describe, expect, it } from "vitest";
import { HOME, type LocalEnvironment, registryItemOf } from "../../local/environment.ts";
import { WORLDS, worldEnvironment } from "../proofs/worlds.ts";
import { TARGET } from "../support/offboarding.ts";

/*
 * Offboarding an account whose onboarding adopted resources it found: they are not deleted, they
 * get back the state recorded before the product changed them, and what cannot be given back is
 * listed.
 */

let env: LocalEnvironment | undefined;
afterEach(() => env?.close());

const world = (name: string) => {
  const found = WORLDS.find((w) => w.name === name);
  if (!found) throw new Error(`no world ${name}`);
  return found;
};

interface Report {
  iam: { removed: string[]; gaveBack: string[]; cannotGiveBack: { resource: string }[] };
}

describe("offboarding an account whose onboarding adopted what it found", () => {
  it("gives an adopted role back its trust policy and leaves the role", async () => {
    env = await worldEnvironment(world("redislabs-cluster-node-role trusting lambda.amazonaws.com"));
    expect((await env.run({ accountId: TARGET, adopt: true })).status).toBe("SUCCEEDED");

    const result = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(result.status).toBe("SUCCEEDED");
    const iam = env.aws.clients({ accountId: TARGET, region: HOME.region }).iam();
    const role = await iam.send(new GetRoleCommand({ RoleName: "redislabs-cluster-node-role" }));
    expect(decodeURIComponent(role.Role?.AssumeRolePolicyDocument ?? "")).toContain("lambda.amazonaws.com");
    const output = result.output as unknown as Report;
    expect(output.iam.gaveBack).toContain("role redislabs-cluster-node-role");
    expect(output.iam.removed).not.toContain("Role redislabs-cluster-node-role");
    expect(output.iam.removed).toContain("Role redislabs-role");
    expect(registryItemOf(env.dynamodb, TARGET)?.resources).toEqual([]);
  });

  it("leaves an adopted user whose console password was reset, and says it cannot be given back", async () => {
    env = await worldEnvironment(world("redislabs-user with a console password"));
    expect((await env.run({ accountId: TARGET, adopt: true })).status).toBe("SUCCEEDED");

    const result = await env.runWorkflow("offboarding", { accountId: TARGET });

    expect(result.status).toBe("SUCCEEDED");
    expect([...env.aws.account(TARGET).users.keys()]).toHaveLength(1);
    const output = result.output as unknown as Report;
    expect(output.iam.cannotGiveBack.map((c) => c.resource)).toContain("user redislabs-user");
    expect(output.iam.removed.some((r) => r.startsWith("AccessKey redislabs-user"))).toBe(true);
  });
});
