import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HOME,
  LOCAL_SETTINGS,
  type LocalEnvironment,
  startLocalEnvironment,
} from "../../local/environment.ts";

/*
 * The whole workflow leaves the credentials secret readable by the configured readers only, and
 * a re-run finds the policy in place.
 */

let env: LocalEnvironment;
beforeAll(async () => {
  env = await startLocalEnvironment({ aws: { keyPropagationMs: 0 } });
});
afterAll(() => env.close());

const policyWrites = () => env.aws.calls.filter((call) => call.command === "PutResourcePolicy").length;

describe("the credentials secret after an onboarding", () => {
  it("carries a policy that denies its value to all but the readers", async () => {
    // Act
    const result = await env.run({});

    // Assess
    expect(result.status).toBe("SUCCEEDED");
    const secret = env.aws.account(HOME.accountId).secrets.get(`redis-cloud/byoc/${HOME.accountId}`);
    const policy = JSON.parse(secret?.ResourcePolicy ?? "{}");
    expect(policy.Statement[0].Condition.StringNotLike["aws:PrincipalArn"]).toEqual(
      LOCAL_SETTINGS.SECRET_READER_ARNS.split(","),
    );
    expect(policyWrites()).toBe(1);
  });

  it("is found as it is by a re-run, which writes no policy", async () => {
    // Act
    const result = await env.run({});

    // Assess
    expect(result.status).toBe("SUCCEEDED");
    expect(policyWrites()).toBe(1);
  });
});
