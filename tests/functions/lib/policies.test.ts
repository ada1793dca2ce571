import { describe, expect, it } from "vitest";
import {
  canonicalPolicy,
  decodePolicyDocument,
  MANAGED_POLICIES,
  policyArn,
  samePolicy,
  TRUST_POLICIES,
} from "../../../functions/lib/policies.ts";
import instancePolicy from "../../../policies/RedisLabsInstanceRolePolicy.json" with { type: "json" };
import userPolicy from "../../../policies/RedislabsIAMUserRestrictedPolicy.json" with { type: "json" };
import nodeTrust from "../../../policies/redislabs-cluster-node-role.trust.json" with { type: "json" };
import consoleTrust from "../../../policies/redislabs-role.trust.json" with { type: "json" };
import { encoded } from "../../support/aws.ts";

const read = {
  Sid: "Read",
  Effect: "Allow",
  Action: ["ec2:DescribeVpcs", "ec2:DescribeSubnets"],
  Resource: "*",
};
const tagged = {
  Sid: "Tagged",
  Effect: "Allow",
  Action: "ec2:DeleteTags",
  Resource: ["*"],
  Condition: { StringEquals: { "ec2:ResourceTag/RedisLabsIdentifier": "Redislabs-VPC" } },
};
const policy = { Version: "2012-10-17", Statement: [read, tagged] };

describe("samePolicy", () => {
  it("ignores the order of keys", () => {
    // Prepare
    const reordered = {
      Statement: [
        { Resource: "*", Action: read.Action, Effect: "Allow", Sid: "Read" },
        {
          Condition: tagged.Condition,
          Resource: ["*"],
          Action: "ec2:DeleteTags",
          Effect: "Allow",
          Sid: "Tagged",
        },
      ],
      Version: "2012-10-17",
    };

    // Assess
    expect(samePolicy(reordered, policy)).toBe(true);
    expect(canonicalPolicy(reordered)).toBe(canonicalPolicy(policy));
  });

  it("ignores the order of statements and of actions", () => {
    // Prepare
    const reordered = {
      Version: "2012-10-17",
      Statement: [tagged, { ...read, Action: [...read.Action].reverse() }],
    };

    // Assess
    expect(samePolicy(reordered, policy)).toBe(true);
  });

  it("treats a string and a one-element list as the same", () => {
    // Prepare
    const lists = {
      Version: "2012-10-17",
      Statement: [
        { ...read, Resource: ["*"] },
        { ...tagged, Action: ["ec2:DeleteTags"], Resource: "*" },
      ],
    };

    // Assess
    expect(samePolicy(lists, policy)).toBe(true);
  });

  it("treats a single statement object as a one-statement list", () => {
    // Assess
    expect(
      samePolicy({ Version: "2012-10-17", Statement: read }, { Version: "2012-10-17", Statement: [read] }),
    ).toBe(true);
  });

  it("treats a bare account id and its root ARN in a principal as the same", () => {
    // Prepare
    const bare = {
      ...consoleTrust,
      Statement: [{ ...consoleTrust.Statement[0], Principal: { AWS: "168085023892" } }],
    };

    // Assess
    expect(samePolicy(bare, consoleTrust)).toBe(true);
  });

  it("treats condition values as sets", () => {
    // Prepare
    const a = {
      Statement: [{ ...tagged, Condition: { StringEquals: { "aws:PrincipalTag/team": ["b", "a"] } } }],
    };
    const b = {
      Statement: [{ ...tagged, Condition: { StringEquals: { "aws:PrincipalTag/team": ["a", "b"] } } }],
    };
    const single = {
      Statement: [{ ...tagged, Condition: { StringEquals: { "aws:PrincipalTag/team": "a" } } }],
    };
    const singleList = {
      Statement: [{ ...tagged, Condition: { StringEquals: { "aws:PrincipalTag/team": ["a"] } } }],
    };

    // Assess
    expect(samePolicy(a, b)).toBe(true);
    expect(samePolicy(single, singleList)).toBe(true);
    expect(samePolicy(a, single)).toBe(false);
  });

  it("treats a Bool condition given as a boolean or as text as the same", () => {
    // Prepare
    const boolean = {
      ...consoleTrust,
      Statement: [
        { ...consoleTrust.Statement[0], Condition: { Bool: { "aws:MultiFactorAuthPresent": true } } },
      ],
    };

    // Assess
    expect(samePolicy(boolean, consoleTrust)).toBe(true);
  });

  it.each([
    ["another effect", { Statement: [{ ...read, Effect: "Deny" }, tagged] }],
    ["one more action", { Statement: [{ ...read, Action: [...read.Action, "ec2:DescribeImages"] }, tagged] }],
    ["one statement less", { Statement: [read] }],
    [
      "another condition value",
      {
        Statement: [
          read,
          { ...tagged, Condition: { StringEquals: { "ec2:ResourceTag/RedisLabsIdentifier": "Other" } } },
        ],
      },
    ],
    [
      "another condition operator",
      { Statement: [read, { ...tagged, Condition: { StringLike: tagged.Condition.StringEquals } }] },
    ],
    ["no condition", { Statement: [read, { ...tagged, Condition: undefined }] }],
    ["another resource", { Statement: [{ ...read, Resource: "arn:aws:ec2:*:*:vpc/*" }, tagged] }],
  ])("tells a policy with %s apart", (_case, other) => {
    // Assess
    expect(samePolicy({ Version: "2012-10-17", ...other }, policy)).toBe(false);
  });

  it("tells principals of different accounts apart", () => {
    // Prepare
    const other = {
      ...consoleTrust,
      Statement: [{ ...consoleTrust.Statement[0], Principal: { AWS: "123456789012" } }],
    };

    // Assess
    expect(samePolicy(other, consoleTrust)).toBe(false);
  });

  it("tells the two shipped managed policies and the two trust policies apart", () => {
    // Assess
    expect(samePolicy(instancePolicy, userPolicy)).toBe(false);
    expect(samePolicy(nodeTrust, consoleTrust)).toBe(false);
  });
});

describe("decodePolicyDocument", () => {
  it("decodes the URL-encoded text IAM answers", () => {
    // Assess
    expect(decodePolicyDocument(encoded(userPolicy))).toEqual(userPolicy);
  });

  it("reads plain JSON, even when it starts with whitespace", () => {
    // Assess
    expect(decodePolicyDocument(JSON.stringify(policy))).toEqual(policy);
    expect(decodePolicyDocument(`\n  ${JSON.stringify(policy, null, 2)}`)).toEqual(policy);
  });

  it("does not URL-decode plain JSON that contains a percent sign", () => {
    // Prepare
    const withPercent = { Statement: [{ ...read, Sid: "Up to 100%" }] };

    // Assess
    expect(decodePolicyDocument(JSON.stringify(withPercent))).toEqual(withPercent);
  });
});

describe("shipped documents", () => {
  it("maps each managed policy name to its file", () => {
    // Assess
    expect(MANAGED_POLICIES.RedisLabsInstanceRolePolicy).toEqual(instancePolicy);
    expect(MANAGED_POLICIES.RedislabsIAMUserRestrictedPolicy).toEqual(userPolicy);
    expect(TRUST_POLICIES).toEqual({ nodeRole: nodeTrust, consoleRole: consoleTrust });
  });

  it("builds a policy ARN in the given partition and account", () => {
    // Assess
    expect(policyArn("aws-us-gov", "123456789012", "RedisLabsInstanceRolePolicy")).toBe(
      "arn:aws-us-gov:iam::123456789012:policy/RedisLabsInstanceRolePolicy",
    );
  });
});
