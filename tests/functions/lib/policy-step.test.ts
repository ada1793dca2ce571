import { CreatePolicyCommand, GetPolicyCommand, IAMClient } from "@aws-sdk/client-iam";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { ensureShippedPolicy } from "../../../functions/lib/policy-step.ts";
import userPolicy from "../../../policies/RedislabsIAMUserRestrictedPolicy.json" with { type: "json" };
import { awsError, HOME, NO_REGISTRY, stepInput, TARGET } from "../../support/aws.ts";

const iamMock = mockClient(IAMClient);

beforeEach(() => {
  iamMock.reset();
});

describe("ensureShippedPolicy", () => {
  it("reconciles the named shipped policy in the target account and partition", async () => {
    // Prepare
    const arn = `arn:aws-cn:iam::${TARGET}:policy/RedislabsIAMUserRestrictedPolicy`;
    iamMock.on(GetPolicyCommand).rejects(awsError.noSuchEntity());
    iamMock.on(CreatePolicyCommand).resolves({ Policy: { Arn: arn } });

    // Act
    const result = await ensureShippedPolicy(
      "EnsureSomething",
      "RedislabsIAMUserRestrictedPolicy",
      "what it is for",
      stepInput(),
      { iam: new IAMClient({}), home: { ...HOME, partition: "aws-cn" }, registry: NO_REGISTRY },
    );

    // Assess
    expect(iamMock).toHaveReceivedCommandWith(GetPolicyCommand, { PolicyArn: arn });
    expect(iamMock).toHaveReceivedCommandWith(CreatePolicyCommand, {
      PolicyName: "RedislabsIAMUserRestrictedPolicy",
      Description: "what it is for",
      PolicyDocument: JSON.stringify(userPolicy),
    });
    expect(result).toEqual({ policyArn: arn, changes: [{ type: "Policy", arn }], found: [] });
  });
});
