import { describe, expect, it } from "vitest";
import { resolveIntrinsics, type Stack } from "../support/cfn.ts";
import { authorize, type PolicyDocument, type PolicyStatement } from "../support/iam-simulate.ts";
import { functionRoleId, packagedTemplate, roleStatements } from "../support/template.ts";

/*
 * With `organizationId` set, the functions can assume the access roles only in accounts of that
 * organization (aws:ResourceOrgID); without it, as before, in any account that trusts them.
 */

const template = packagedTemplate();
const ORG = "o-a1b2c3d4e5";
const stack = (organization: string | undefined): Stack => ({
  partition: "aws",
  region: "us-east-1",
  accountId: "111111111111",
  refs: { OrganizationId: organization ?? "" },
  attributes: { "AccountRegistryTable.Arn": "arn:aws:dynamodb:us-east-1:111111111111:table/registry" },
  conditions: { HasOrganization: organization !== undefined },
});

const assumeStatement = (organization: string | undefined): PolicyStatement => {
  const statements = resolveIntrinsics(
    roleStatements(template, functionRoleId(template, "EnsureUserLambdaFunction")),
    stack(organization),
  ) as PolicyStatement[];
  const assume = statements.find((s) => [s.Action].flat().includes("sts:AssumeRole"));
  if (!assume) throw new Error("EnsureUser cannot assume any role");
  return assume;
};

const assumeIn = async (organization: string | undefined, resourceOrg: string) => {
  const policy: PolicyDocument = { Version: "2012-10-17", Statement: [assumeStatement(organization)] };
  const verdict = await authorize("arn:aws:sts::111111111111:assumed-role/ensureUser/session", policy, {
    action: "sts:AssumeRole",
    resource: "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole",
    accountId: "222222222222",
    context: { "aws:ResourceOrgID": resourceOrg },
    // The access role trusts the stack's account, as OrganizationAccountAccessRole does.
    resourcePolicy: {
      Version: "2012-10-17",
      Statement: [
        { Effect: "Allow", Principal: { AWS: "arn:aws:iam::111111111111:root" }, Action: "sts:AssumeRole" },
      ],
    },
    origin: "test",
  });
  return verdict.allowed;
};

describe("the access roles' organization", () => {
  it("bounds AssumeRole to the organization's accounts when one is set", async () => {
    expect(assumeStatement(ORG).Condition).toEqual({ StringEquals: { "aws:ResourceOrgID": ORG } });
    expect(await assumeIn(ORG, ORG)).toBe(true);
    expect(await assumeIn(ORG, "o-zzzzzzzzzz")).toBe(false);
  });

  it("adds no condition when none is set", async () => {
    expect(assumeStatement(undefined).Condition).toBeUndefined();
    expect(await assumeIn(undefined, "o-zzzzzzzzzz")).toBe(true);
  });

  it("takes the id from a stack parameter that accepts only an organization id or nothing", () => {
    const parameters = (
      template as { Parameters?: Record<string, { Default: string; AllowedPattern: string }> }
    ).Parameters;
    const pattern = new RegExp(parameters?.OrganizationId?.AllowedPattern ?? "^$");
    expect(parameters?.OrganizationId?.Default).toBe("");
    expect(pattern.test(ORG)).toBe(true);
    expect(pattern.test("*")).toBe(false);
  });
});
